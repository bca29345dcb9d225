"""Math: `$…$` and `$$…$$` in Markdown become MathML at build time (latex2mathml); no script, no network.

The inline processors run before emphasis and escapes, so `_`, `*` and `\\` inside math are left to LaTeX;
a `$` that opens must be followed by a non-space and one that closes must not be followed by a digit, so
"$5 and $10" stays text; `\\$` is a literal dollar.
"""
from __future__ import annotations

from latex2mathml.converter import convert
from markdown import Extension
from markdown.inlinepatterns import InlineProcessor

DISPLAY_RE = r"(?<!\\)\$\$(.+?)\$\$"
INLINE_RE = r"(?<![\\$])\$(?=\S)([^$\n]+?)(?<=[^\s\\])\$(?![\d$])"


class MathError(ValueError):
    """LaTeX that latex2mathml cannot convert; `latex` is the offending source."""

    def __init__(self, latex: str, reason: str):
        self.latex = latex
        super().__init__(f"cannot render math ${latex}$: {reason}")


def to_mathml(latex: str, display: bool = False) -> str:
    """Return MathML markup for a LaTeX formula; raise MathError naming it when it does not parse."""
    try:
        out = convert(latex.strip(), display="block" if display else "inline")
    except Exception as e:  # noqa: BLE001 -- latex2mathml raises many unrelated types
        raise MathError(latex, f"{type(e).__name__} {e}".strip()) from None
    return f'<span class="math-display">{out}</span>' if display else out


class _MathPattern(InlineProcessor):
    def __init__(self, pattern: str, md, display: bool):
        super().__init__(pattern, md)
        self.display = display

    def handleMatch(self, m, data):
        return self.md.htmlStash.store(to_mathml(m.group(1), self.display)), m.start(0), m.end(0)


class MathExtension(Extension):
    """Register $$display$$ and $inline$ math patterns ahead of code-free inline Markdown."""

    def extendMarkdown(self, md) -> None:
        if "$" not in md.ESCAPED_CHARS:
            md.ESCAPED_CHARS.append("$")
        md.inlinePatterns.register(_MathPattern(DISPLAY_RE, md, True), "math-display", 186)
        md.inlinePatterns.register(_MathPattern(INLINE_RE, md, False), "math-inline", 185)


__all__ = ["MathError", "MathExtension", "to_mathml"]
