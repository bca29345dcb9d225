"""Article Markdown → HTML: Jinja variables first, then Python-Markdown with math, citations and blocks.

Syntax beyond Markdown (with footnotes `[^1]`, tables, fenced code, attr_list, md_in_html, toc, smarty):
  [@key] / [@a; @b]     citation, numbered later (citations.Citer); raw `<d-cite key="a,b"></d-cite>`
                        (Distill's markup, or `data-keys=`) is checked and numbered the same way
  $x^2$ / $$\\sum_i x_i$$ math, rendered to MathML (math.py)
  ::: aside … :::       a margin note (l-gutter); `::: methods … :::` fills the appendix's Methods slot
  {{ figure("id", caption="…") }} and {{ fig.<id>.metrics.<name> }}   through Jinja (expand)
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import markdown
from markdown.inlinepatterns import InlineProcessor
from markdown.preprocessors import Preprocessor
from markupsafe import Markup

from sitegen import numbers
from sitegen.errors import BuildError, line_of
from sitegen.math import MathError, MathExtension

BLOCKS = ("aside", "methods")
CITE_RE = r"\[(@[\w:./+-]+(?:\s*;\s*@[\w:./+-]+)*)\]"
RAW_CITE_RE = re.compile(r"(<d-cite\b[^>]*>)\s*(?:</d-cite>)?", re.IGNORECASE)
KEYS_ATTR_RE = re.compile(r"""\s(?:data-keys|key)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
MARK = "%%{}%%"            # a paragraph of its own survives Markdown as <p>%%…%%</p>
MARK_RE = re.compile(r"<p>%%(\w+):([\w.-]+)%%</p>")
FOOTNOTES_RE = re.compile(r'<div class="footnote">.*</div>\s*\Z', re.DOTALL)
EXTENSIONS = ["footnotes", "tables", "fenced_code", "attr_list", "md_in_html", "sane_lists", "smarty", "toc"]


@dataclass
class Converted:
    """The body HTML (figure marks left as <p>%%figure:id%%</p>), its ToC, slot contents and footnotes."""

    html: str
    toc: list[dict] = field(default_factory=list)      # [{"id", "name", "level", "children": [...]}]
    slots: dict[str, str] = field(default_factory=dict)
    footnotes: str = ""


class CitationError(KeyError):
    """A citation key that is not in the bibliography."""


def expand(path: Path, variables: dict, functions: dict | None = None) -> str:
    """Render a Markdown file through Jinja (StrictUndefined); an error names the file and line."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=True)
    env.filters.update(numbers.FILTERS)
    env.globals.update(functions or {})
    try:
        return env.get_template(path.name).render(**variables)
    except jinja2.TemplateSyntaxError as e:
        raise BuildError(f"template syntax: {e.message}", e.filename or path, e.lineno) from None
    except jinja2.TemplateNotFound as e:
        raise BuildError(f"included file {e.name!r} not found", path, _jinja_line(e, path)) from None
    except BuildError as e:
        if e.file is None or e.line is None:
            raise BuildError(e.message, path, _jinja_line(e, path)) from None
        raise
    except (jinja2.UndefinedError, TypeError, ValueError, KeyError, AttributeError) as e:
        raise BuildError(f"{type(e).__name__}: {e} (numbers come from fig.<id>.metrics.<name>)",
                         path, _jinja_line(e, path)) from None


def _jinja_line(exc: BaseException, path: Path) -> int | None:
    """Return the line of the innermost traceback frame inside the template `path` (Jinja rewrites frames)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).name == path.name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _Blocks(Preprocessor):
    """Turn `::: name` … `:::` into mark paragraphs; an unknown name or unclosed block is an error."""

    def __init__(self, md, path: Path, first_line: int):
        super().__init__(md)
        self.path, self.first_line = path, first_line

    def run(self, lines: list[str]) -> list[str]:
        out, open_, fence = [], None, False
        for i, line in enumerate(lines):
            if line.lstrip().startswith(("```", "~~~")):
                fence = not fence
            m = None if fence else re.fullmatch(r":::\s*(\w*)\s*", line)
            if m is None:
                out.append(line)
            elif m.group(1):
                if open_ or m.group(1) not in BLOCKS:
                    why = "blocks do not nest" if open_ else f"unknown block; use one of {', '.join(BLOCKS)}"
                    raise BuildError(f"'::: {m.group(1)}': {why}", self.path, self.first_line + i)
                open_ = (m.group(1), i)
                out += ["", MARK.format(f"open:{m.group(1)}"), ""]
            elif open_:
                out += ["", MARK.format(f"close:{open_[0]}"), ""]
                open_ = None
        if open_:
            raise BuildError(f"'::: {open_[0]}' is never closed with ':::'", self.path, self.first_line + open_[1])
        return out


class _Cite(InlineProcessor):
    def __init__(self, md, keys: set[str]):
        super().__init__(CITE_RE, md)
        self.keys = keys

    def handleMatch(self, m, data):
        keys = [k.strip().lstrip("@") for k in m.group(1).split(";")]
        for k in keys:
            if k not in self.keys:
                raise CitationError(k)
        return self.md.htmlStash.store(f'<d-cite data-keys="{",".join(keys)}"></d-cite>'), m.start(0), m.end(0)


class _Extension(markdown.Extension):
    def __init__(self, path: Path, first_line: int, keys: set[str]):
        super().__init__()
        self.path, self.first_line, self.keys = path, first_line, keys

    def extendMarkdown(self, md) -> None:
        md.preprocessors.register(_Blocks(md, self.path, self.first_line), "caricature-blocks", 29)
        md.inlinePatterns.register(_Cite(md, self.keys), "citation", 176)


Locate = Callable[[str], tuple[Path, int] | None]   # text → (source file, line) where it was written


def convert(text: str, path: Path, keys: set[str], first_line: int = 1, locate: Locate | None = None) -> Converted:
    """Convert article Markdown to HTML; unknown citations and bad math are errors naming file and line.

    locate: where a piece of `text` sits in the sources (for text that Jinja expanded from several files);
    without it, or when it finds nothing, the line in `text` itself, counted from `first_line`, in `path`.
    """
    def where(needle: str) -> tuple[Path, int | None]:
        found = locate(needle) if locate else None
        return found or (path, _line(text, needle, first_line))

    md = markdown.Markdown(extensions=[*EXTENSIONS, MathExtension(), _Extension(path, first_line, keys)],
                           extension_configs={"toc": {"toc_depth": "2-3"},
                                              "footnotes": {"BACKLINK_TITLE": "Back to text"}})
    try:
        html = md.convert(text)
    except CitationError as e:
        raise _unknown_key(e.args[0], *where("@" + e.args[0])) from None
    except MathError as e:
        raise BuildError(str(e), *where(e.latex)) from None
    html = _raw_citations(html, keys, where)
    footnotes = ""
    m = FOOTNOTES_RE.search(html)
    if m:
        html, footnotes = html[:m.start()], m.group(0)
    html, slots = _apply_marks(html)
    return Converted(html=html, toc=_toc(md.toc_tokens), slots=slots, footnotes=footnotes)


def _unknown_key(key: str, path: Path, line: int | None) -> BuildError:
    return BuildError(f"unknown citation key {key!r}: add it to references.bib or fix the key", path, line)


def _raw_citations(html: str, keys: set[str], where: Callable[[str], tuple[Path, int | None]]) -> str:
    """Check the keys of each <d-cite> tag and rewrite it as the placeholder `[@…]` leaves for the Citer.

    Raw HTML passes through Markdown verbatim, so the tag is found in the source to name its line; tags
    inside code are escaped by then and do not match.
    """
    def check(m: re.Match) -> str:
        path, line = where(m.group(1))
        attr = KEYS_ATTR_RE.search(m.group(1))
        found = [k.strip() for k in (attr.group(1) or attr.group(2) or "").split(",") if k.strip()] if attr else []
        if not found:
            raise BuildError(f"{m.group(1)} names no citation key: write <d-cite key=\"a,b\"></d-cite> or [@a; @b]",
                             path, line)
        for k in found:
            if k not in keys:
                raise _unknown_key(k, path, line)
        return f'<d-cite data-keys="{",".join(found)}"></d-cite>'
    return RAW_CITE_RE.sub(check, html)


def _toc(tokens: list[dict]) -> list[dict]:
    """Return ToC entries whose `name` is Markup: Python-Markdown has already escaped it."""
    return [{"id": t["id"], "name": Markup(t["name"]), "level": t["level"], "children": _toc(t["children"])}
            for t in tokens]


def _line(text: str, needle: str, first_line: int) -> int | None:
    n = line_of(text, needle)
    return None if n is None else n + first_line - 1


def _apply_marks(html: str) -> tuple[str, dict[str, str]]:
    """Wrap aside marks in <aside>; cut slot blocks (methods) out into their own HTML."""
    html = html.replace(f"<p>{MARK.format('open:aside')}</p>", '<aside class="l-gutter">')
    html = html.replace(f"<p>{MARK.format('close:aside')}</p>", "</aside>")
    slots = {}
    for name in BLOCKS:
        start, end = f"<p>{MARK.format('open:' + name)}</p>", f"<p>{MARK.format('close:' + name)}</p>"
        while start in html:
            a = html.index(start)
            b = html.index(end, a)
            slots[name] = slots.get(name, "") + html[a + len(start):b]
            html = html[:a] + html[b + len(end):]
    return html, slots


def convert_inline(text: str, path: Path, keys: set[str]) -> str:
    """Convert a short Markdown snippet (a caption) to inline HTML: no wrapping <p>."""
    html = convert(text, path, keys).html.strip()
    return html[3:-4] if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1 else html
