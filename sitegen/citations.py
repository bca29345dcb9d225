"""Citations: read a .bib with pybtex's parser, format entries (Unicode, case kept), number them by first use.

The Markdown step leaves `<d-cite data-keys="a,b"></d-cite>` where the text had `[@a; @b]`; a `Citer` turns
those into numbered, focusable links with a hover card and returns the cited entries in order.
"""
from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass
from pathlib import Path

import latexcodec  # noqa: F401  (registers the "ulatex" codec)
from pybtex.database import BibliographyDataError
from pybtex.database.input.bibtex import Parser
from pybtex.scanner import PybtexSyntaxError

from sitegen.errors import BuildError

CITE_RE = re.compile(r'<d-cite data-keys="([^"]*)"></d-cite>')
RAW_FIELDS = {"url", "doi", "eprint"}   # not LaTeX: '~', '_' and '%' stay as they are


@dataclass(frozen=True)
class Reference:
    """One bibliography entry, formatted: every field is HTML-safe text."""

    key: str
    title: str
    authors: str          # "Olah, C., Mordvintsev, A. and Schubert, L."
    year: str
    venue: str            # "Distill, Vol 2(11)" / "Proc. CVPR, pp. 5188–5196" / "GitHub"
    url: str

    @property
    def html(self) -> str:
        """Return the entry as Distill-style HTML: title (linked), then authors, year, venue."""
        title = f'<a href="{self.url}">{self.title}</a>' if self.url else self.title
        rest = ". ".join(x for x in (f"{self.authors}, {self.year}" if self.authors else self.year, self.venue) if x)
        return f'<span class="ref-title">{title}</span><br><span class="ref-rest">{rest}.</span>'


def latex_to_html(text: str) -> str:
    """Return BibTeX field text as HTML: accents to Unicode, \\emph{x} to <em>, braces dropped, case kept."""
    s = codecs.decode(text, "ulatex")
    s = html.escape(s, quote=False)
    s = re.sub(r"\\(?:emph|textit|textsl)\s*\{([^{}]*)\}", r"<em>\1</em>", s)
    s = re.sub(r"\\(?:textbf)\s*\{([^{}]*)\}", r"<strong>\1</strong>", s)
    s = re.sub(r"\\[A-Za-z]+\s*(?=\{)", "", s)
    s = s.replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", s).strip()


def _person(p) -> str:
    last = latex_to_html(" ".join(p.prelast_names + p.last_names + p.lineage_names))
    firsts = [latex_to_html(n) for n in p.first_names + p.middle_names]
    if not firsts:
        return last
    initials = " ".join("-".join(part[:1] + "." for part in n.split("-") if part) for n in firsts if n)
    return f"{last}, {initials}"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def format_entry(key: str, entry) -> Reference:
    """Format one pybtex entry."""
    f = {k.lower(): v.strip() if k.lower() in RAW_FIELDS else latex_to_html(v) for k, v in entry.fields.items()}
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    authors = _join([_person(p) for p in people]) if people else ""
    venue = f.get("journal") or f.get("booktitle") or f.get("howpublished") or f.get("publisher") or ""
    if entry.type.lower() == "misc" and not venue and "github.com" in f.get("url", ""):
        venue = "GitHub"
    if venue and f.get("volume"):
        venue += f", Vol {f['volume']}" + (f"({f['number']})" if f.get("number") else "")
    if f.get("pages"):
        venue += f", pp. {f['pages'].replace('--', '–')}"
    if f.get("eprint") and "arxiv" in f.get("archiveprefix", "").lower():
        venue = (venue + ". " if venue else "") + f"arXiv:{f['eprint']}"
    if f.get("doi"):
        venue += f". DOI: {html.escape(f['doi'])}"
    url = f.get("url") or (f"https://doi.org/{f['doi']}" if f.get("doi") else "")
    return Reference(key=key, title=f.get("title", key), authors=authors, year=f.get("year", "n.d."),
                     venue=venue.strip(". "), url=html.escape(url))


def load(path: Path) -> dict[str, Reference]:
    """Parse a .bib file into formatted references by key; a syntax error names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildError("bibliography not found (create it, even empty)", path) from None
    try:
        data = Parser().parse_string(text)
    except PybtexSyntaxError as e:
        raise BuildError(f"BibTeX syntax error: {e.args[0] if e.args else e}", path, getattr(e, "lineno", None)) from None
    except BibliographyDataError as e:
        key = str(e).rsplit(":", 1)[-1].strip()
        found = list(re.finditer(r"@\w+\s*\{\s*" + re.escape(key) + r"\s*,", text, re.IGNORECASE))
        line = text.count("\n", 0, found[-1].start()) + 1 if found else None
        raise BuildError(f"BibTeX: {e}", path, line) from None
    return {key: format_entry(key, entry) for key, entry in data.entries.items()}


class Citer:
    """Number citations across several HTML pieces, in the order they are passed and appear."""

    def __init__(self, refs: dict[str, Reference], where: Path | None = None):
        self.refs, self.where, self.order = refs, where, {}

    @property
    def cited(self) -> list[Reference]:
        """Return the cited references in numbering order."""
        return [self.refs[k] for k in self.order]

    def sub(self, page: str) -> str:
        """Replace <d-cite> placeholders with numbered citation links (hover/focus card from page.js)."""
        return CITE_RE.sub(self._cite, page)

    def _cite(self, m: re.Match) -> str:
        keys = [k for k in m.group(1).split(",") if k]
        for k in keys:
            if k not in self.refs:
                raise BuildError(f"unknown citation key {k!r}", self.where)
            self.order.setdefault(k, len(self.order) + 1)
        nums = sorted({self.order[k] for k in keys})
        label = ", ".join(str(n) for n in nums)
        ids = " ".join(f"ref-{k}" for k in keys)
        return (f'<span class="citation" data-refs="{ids}"><a class="citation-link" href="#ref-{keys[0]}" '
                f'aria-label="reference{"s" if len(nums) > 1 else ""} {label}">[{label}]</a></span>')
