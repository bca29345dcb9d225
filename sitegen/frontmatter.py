"""Front matter: split the YAML block off an article and check it into a `FrontMatter` (file:line errors)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sitegen.errors import BuildError

REQUIRED = ("title", "description", "authors", "date", "licence", "bibtex_key")
OPTIONAL = ("acknowledgements", "contributions", "url", "journal", "repository")
AUTHOR_KEYS = {"name", "url", "affiliation", "affiliations", "family"}


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so a bad date is our error with a line, not PyYAML's crash."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass(frozen=True)
class Affiliation:
    name: str
    url: str | None = None


@dataclass(frozen=True)
class Author:
    name: str
    url: str | None = None
    affiliations: tuple[Affiliation, ...] = ()
    family: str | None = None      # family name when it is not the last word; "" for a group ("The X Authors")

    @property
    def is_group(self) -> bool:
        return self.family == "" or (self.family is None and self.name.startswith("The "))

    @property
    def last(self) -> str:
        """Return the family name (a group's whole name)."""
        if self.is_group:
            return self.name
        return self.family or self.name.rpartition(" ")[2]

    @property
    def last_first(self) -> str:
        """Return 'Last, First Middle' as citations want it (a group's name as it is)."""
        first = self.name.removesuffix(self.last).strip()
        return f"{self.last}, {first}" if first and not self.is_group else self.last

    @property
    def bibtex(self) -> str:
        """Return the name as a BibTeX author: 'Last, First', or a group in braces."""
        return "{" + self.name + "}" if self.is_group else self.last_first


@dataclass(frozen=True)
class FrontMatter:
    title: str
    description: str
    authors: tuple[Author, ...]
    date: dt.date
    licence: str
    bibtex_key: str
    acknowledgements: str = ""                   # Markdown
    contributions: str = ""                      # Markdown
    url: str = ""
    journal: str = ""
    repository: str = ""                         # e.g. https://github.com/owner/repo: links figure scripts
    lines: dict = field(default_factory=dict, compare=False)   # field name → line in the file


def split(text: str, path: Path) -> tuple[str, str, int]:
    """Return (yaml text, body, line where the body starts); the file must open with a `---` block."""
    m = re.match(r"---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(\r?\n|$)", text, re.DOTALL)
    if not m:
        raise BuildError("no front matter: the file must start with a '---' line, YAML fields, and a closing "
                         "'---' line", path, 1)
    yaml_text = m.group(1) or ""
    return yaml_text, text[m.end():], text.count("\n", 0, m.end()) + 1


def parse(text: str, path: Path) -> tuple[FrontMatter, str, int]:
    """Return (front matter, Markdown body, first body line) of an article's text."""
    yaml_text, body, body_line = split(text, path)
    try:
        node = yaml.compose(yaml_text, Loader=_Loader)
        data = yaml.load(yaml_text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        raise BuildError(f"malformed front matter: {getattr(e, 'problem', None) or e}", path, line) from None
    if not isinstance(data, dict):
        raise BuildError("front matter must be a YAML mapping of fields (title: ..., authors: ...)", path, 2)
    lines = {k.value: k.start_mark.line + 2 for k, _ in node.value}

    def fail(msg: str, key: str | None = None) -> BuildError:
        return BuildError(f"front matter: {msg}", path, lines.get(key, 1))

    for key in data:
        if key not in REQUIRED + OPTIONAL:
            raise fail(f"unknown field {key!r}; fields are {', '.join(REQUIRED + OPTIONAL)}", key)
    for key in REQUIRED:
        if data.get(key) in (None, "", []):
            raise fail(f"missing field {key!r} (required: {', '.join(REQUIRED)})")
    for key in ("title", "description", "licence", "bibtex_key") + OPTIONAL:
        if key in data and not isinstance(data[key], str):
            raise fail(f"{key!r} must be text, got {data[key]!r}", key)
    if not re.fullmatch(r"[A-Za-z][\w:-]*", data["bibtex_key"]):
        raise fail(f"bibtex_key {data['bibtex_key']!r} must be letters, digits, '_', ':' or '-'", "bibtex_key")
    date = data["date"]
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise fail(f"date {date!r} must be YYYY-MM-DD", "date") from None
    if isinstance(date, dt.datetime):
        date = date.date()
    if not isinstance(date, dt.date):
        raise fail(f"date {date!r} must be YYYY-MM-DD", "date")
    if isinstance(data["authors"], str):
        authors = _cff_authors(Path(path).parent / data["authors"], fail)
    else:
        authors = _authors(data["authors"], fail)
    fm = FrontMatter(title=data["title"], description=data["description"], authors=authors, date=date,
                     licence=data["licence"], bibtex_key=data["bibtex_key"], lines=lines,
                     **{k: data[k] for k in OPTIONAL if k in data})
    return fm, body, body_line


def _cff_authors(cff: Path, fail) -> tuple[Author, ...]:
    """Return the authors of a CITATION.cff file (`authors: ../CITATION.cff` in the front matter), so the
    article and its citation name the same people from one place. A person is `given-names` and
    `family-names`, a group or organization `name`; `affiliation` and `website` (or `orcid`) are kept."""
    if cff.suffix != ".cff":
        raise fail(f"authors: give a list of {{name, affiliations, url}} or the path of a CITATION.cff file, "
                   f"not {cff.name!r}", "authors")
    try:
        data = yaml.safe_load(cff.read_text(encoding="utf-8"))
    except OSError as e:
        raise fail(f"authors: cannot read {cff}: {e.strerror}", "authors") from None
    except yaml.YAMLError as e:
        raise fail(f"authors: {cff.name} is not valid YAML: {getattr(e, 'problem', None) or e}", "authors") from None
    entries = data.get("authors") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise fail(f"authors: {cff.name} has no authors list", "authors")
    out = []
    for a in entries:
        family = a.get("family-names") if isinstance(a, dict) else None
        name = (a.get("name") or " ".join(x for x in (a.get("given-names"), family) if x)) if isinstance(a, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise fail(f"authors: {cff.name}: author {a!r} needs name, or given-names and family-names", "authors")
        affiliations = (Affiliation(a["affiliation"]),) if a.get("affiliation") else ()
        out.append(Author(name, a.get("website") or a.get("orcid"), affiliations,
                          family if family else ("" if a.get("name") else None)))
    return tuple(out)


def _authors(value, fail) -> tuple[Author, ...]:
    if not isinstance(value, list):
        raise fail("authors must be a list of {name, affiliations, url}, or the path of a CITATION.cff file",
                   "authors")
    out = []
    for a in value:
        if isinstance(a, str):
            a = {"name": a}
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or set(a) - AUTHOR_KEYS:
            raise fail(f"author {a!r}: give name (and optional url, affiliations: [text or {{name, url}}])", "authors")
        affs = a.get("affiliations", a.get("affiliation", []))
        affs = affs if isinstance(affs, list) else [affs]
        parsed = []
        for f in affs:
            if isinstance(f, str):
                parsed.append(Affiliation(f))
            elif isinstance(f, dict) and isinstance(f.get("name"), str) and set(f) <= {"name", "url"}:
                parsed.append(Affiliation(f["name"], f.get("url")))
            else:
                raise fail(f"affiliation {f!r} of {a['name']}: give text or {{name, url}}", "authors")
        family = a.get("family")
        if family is not None and (not isinstance(family, str) or (family and not a["name"].endswith(family))):
            raise fail(f"author {a['name']!r}: family must be the end of name, or '' for a group", "authors")
        out.append(Author(a["name"], a.get("url"), tuple(parsed), family))
    return tuple(out)
