"""Render the article page: Jinja variables → Markdown → figures, citations and the appendix → templates."""
from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from sitegen import citations, markdown
from sitegen.errors import BuildError, display_path
from sitegen.frontmatter import FrontMatter, split

log = logging.getLogger("build")
FIGURE_CALL_RE = re.compile(r"""\bfigure\(\s*["']([\w-]+)["']""")
METHODS_RE = re.compile(r"^:::[ \t]*methods[ \t]*\n(.*?)^:::[ \t]*$", re.MULTILINE | re.DOTALL)
INCLUDE_RE = re.compile(r"""\{%-?\s*include\s+["']([^"']+)["']\s*-?%\}""")


class Missing(float):
    """A value of a figure that was not built (skipped by --only, never cached): NaN that the article's
    templates can still index, take attributes of, iterate (nothing), do arithmetic and round with."""

    def __new__(cls):
        return super().__new__(cls, "nan")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def _self(self, *args):
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _self
    __neg__ = __abs__ = __floor__ = __ceil__ = __round__ = __trunc__ = _self


class MissingMetrics(dict):
    """Metrics of a figure that was not built: every name reads as a `Missing` NaN."""

    def __missing__(self, key):
        return Missing()


@dataclass(frozen=True)
class FigureVars:
    """What the article text sees as fig.<id>: metrics, data, its number and a link to it."""

    id: str
    number: int
    metrics: dict
    data: dict
    provenance: dict

    @property
    def ref(self) -> Markup:
        return Markup(f'<a class="figure-ref" href="#fig-{self.id}">Figure {self.number}</a>')


def template_env(templates: Path) -> jinja2.Environment:
    """Return the Jinja environment for templates/: autoescaped HTML, StrictUndefined."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
                              autoescape=True, trim_blocks=True, lstrip_blocks=True)


def number_figures(text: str, ids: list[str]) -> dict[str, int]:
    """Number figures in reading order: the body's in the order the text places them, then those placed in
    `::: methods` blocks (the page shows them in the appendix, after the body); figures the text does not
    place come last."""
    methods = "".join(m.group(1) for m in METHODS_RE.finditer(text))
    body = METHODS_RE.sub("", text)
    order = [i for i in dict.fromkeys(FIGURE_CALL_RE.findall(body) + FIGURE_CALL_RE.findall(methods)) if i in ids]
    order += [i for i in ids if i not in order]
    return {fig_id: n + 1 for n, fig_id in enumerate(order)}


def with_includes(text: str, folder: Path, depth: int = 0) -> str:
    """Return the text with each `{% include "file" %}` replaced by that file's text (for numbering only)."""
    def inline(m: re.Match) -> str:
        path = folder / m.group(1)
        return with_includes(path.read_text(encoding="utf-8"), folder, depth + 1) if path.is_file() else ""
    return text if depth > 8 else INCLUDE_RE.sub(inline, text)


def source_line(path: Path, needle: str, folder: Path | None = None, depth: int = 0) -> tuple[Path, int] | None:
    """Return (file, line) where `needle` is first written in the article at `path` or, in reading order, in
    the files it includes (paths relative to `folder`, the article's); None when no source has it. A needle
    that ends in a name character must not continue as one ("@lucid" is not found in "@lucid2020")."""
    folder = folder or path.parent
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    pattern = re.compile(re.escape(needle) + (r"(?![\w:./+-])" if re.search(r"\w$", needle) else ""))
    for number, line in enumerate(lines, 1):
        if pattern.search(line):
            return path, number
        for name in INCLUDE_RE.findall(line) if depth < 8 else ():
            found = source_line(folder / name, needle, folder, depth + 1)
            if found:
                return found
    return None


def compute_seconds(figures) -> float:
    """Return the seconds figures took to compute: each distinct run once, plus every figure's assembly.
    `figures`: index dicts, or the text's FigureVars (anything with a provenance)."""
    runs, assemble = {}, 0.0
    for fig in figures:
        prov = (fig.get("provenance") if isinstance(fig, dict) else fig.provenance) or {}
        assemble += prov.get("assemble_s", prov.get("wall_time_s", 0))
        runs.update({r["key"]: r["provenance"]["seconds"] for r in prov.get("runs", [])})
    return assemble + sum(runs.values())


def render_body(article, figures: dict[str, dict], macros) -> tuple[markdown.Converted, list[dict]]:
    """Expand and convert the article body; return it (figures in place) and the placed figures in order."""
    numbers = number_figures(with_includes(article.text, article.path.parent), list(figures))
    fig = {i: FigureVars(i, numbers[i], MissingMetrics() if idx.get("missing") else idx["metrics"],
                         idx.get("data", {}), MissingMetrics() if idx.get("missing") else idx.get("provenance") or {})
           for i, idx in figures.items()}
    build = {"figure_seconds": Missing() if any(idx.get("missing") for idx in figures.values()) else
             compute_seconds(figures.values()), "seconds": compute_seconds}
    placed: dict[str, dict] = {}
    keys = set(article.refs)

    def place(fig_id: str, caption: str | None = None, layout: str | None = None) -> str:
        if fig_id not in figures:
            raise BuildError(f"unknown figure id {fig_id!r} in figure(...); known: {', '.join(figures) or 'none'}")
        if fig_id in placed:
            raise BuildError(f"figure {fig_id!r} is placed twice")
        idx = figures[fig_id]
        text = caption if caption is not None else idx.get("caption") or idx["title"]
        placed[fig_id] = {"id": fig_id, "number": numbers[fig_id], "layout": layout or idx["layout"],
                          "view": idx["view"], "title": idx["title"], "missing": bool(idx.get("missing")),
                          "caption": Markup(markdown.convert_inline(text, article.path, keys)),
                          "json": Markup(json.dumps(idx, ensure_ascii=False).replace("</", "<\\/")),
                          "provenance": idx.get("provenance")}
        return f"\n\n%%figure:{fig_id}%%\n\n"

    expanded = markdown.expand(article.path, {"fig": fig, "meta": article.meta, "build": build},
                              {"figure": place})
    _, body, body_line = split(expanded, article.path)
    # Figures, includes and {%- … %} move lines: errors name the file and line the text was written on.
    conv = markdown.convert(body, article.path, keys, body_line, lambda needle: source_line(article.path, needle))
    def figures_in(html: str) -> str:
        return markdown.MARK_RE.sub(lambda m: macros.figure(placed[m.group(2)]) if m.group(1) == "figure"
                                    else m.group(0), html)

    conv.html = figures_in(conv.html)
    conv.slots = {name: figures_in(html) for name, html in conv.slots.items()}   # e.g. a figure in ::: methods
    return conv, sorted(placed.values(), key=lambda f: f["number"])


def photo_credits(placed: list[dict], scripts: dict, config) -> list[dict]:
    """Return the credits.json entries of the photos the placed figures use, in first-use order."""
    try:
        rows = {c["file"]: c for c in json.loads(config.credits.read_text(encoding="utf-8"))}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BuildError(f"cannot read photo credits: {e}", config.credits) from None
    out = {}
    for f in placed:
        for rel in scripts[f["id"]].spec.inputs if f["id"] in scripts else ():
            try:
                name = (config.root / rel).resolve().relative_to(config.credits.parent.resolve()).as_posix()
            except ValueError:
                name = rel
            if name not in rows:
                raise BuildError(f"figure {f['id']!r}: input {rel} has no entry in {display_path(config.credits)}; "
                                 "add its title, author, license and source_url")
            out.setdefault(name, {**rows[name], "figures": []})["figures"].append({"number": f["number"],
                                                                                  "id": f["id"]})
    return list(out.values())


def cite_this(meta: FrontMatter) -> tuple[str, str]:
    """Return ("Cite as" text, BibTeX) for the article, from its front matter."""
    names = [a.last_first for a in meta.authors]
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    text = f"{who}, {meta.date.year}. {meta.title}. {meta.journal or ''}".strip().rstrip(".") + "."
    if meta.url:
        text += f" {meta.url}"
    fields = {"author": " and ".join(a.bibtex for a in meta.authors), "title": meta.title, "journal": meta.journal,
              "year": str(meta.date.year), "url": meta.url}
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
    return text, f"@{'article' if meta.journal else 'misc'}{{{meta.bibtex_key},\n{body}\n}}"


def render_page(article, figures: dict[str, dict], scripts: dict, config, assets: dict) -> str:
    """Return the complete HTML of the article page."""
    env = template_env(config.templates)
    try:
        macros = env.get_template("partials/macros.html").module
        template = env.get_template("article.html")
    except jinja2.TemplateNotFound as e:
        raise BuildError(f"template {e.name!r} not found in {display_path(config.templates)}",
                         config.templates / e.name) from None
    except jinja2.TemplateSyntaxError as e:
        raise BuildError(f"template syntax: {e.message}", e.filename, e.lineno) from None
    conv, placed = render_body(article, figures, macros)
    for fig_id in set(figures) - {f["id"] for f in placed}:
        log.warning("figure %s is not placed in the article (add {{ figure(%r) }} to %s)", fig_id, fig_id,
                    display_path(article.path))
    meta, refs = article.meta, article.refs
    for f in placed:
        if f["provenance"]:
            f["provenance"] = {**f["provenance"], "script_url": meta.repository and
                               f"{meta.repository.rstrip('/')}/blob/HEAD/{f['provenance']['script']}"}
    block = lambda text: markdown.convert(text, article.path, set(refs)).html if text else ""
    citer = citations.Citer(refs, article.path)
    parts = {"body": conv.html, "methods": conv.slots.get("methods", ""),
             "acknowledgements": block(meta.acknowledgements), "contributions": block(meta.contributions),
             "footnotes": conv.footnotes}
    parts = {k: Markup(citer.sub(v)) for k, v in parts.items()}
    cite_text, bibtex = cite_this(meta)
    affiliations = list(dict.fromkeys(f for a in meta.authors for f in a.affiliations))
    toc = conv.toc + ([{"id": "methods", "name": "Methods", "level": 2, "children": []}]
                      if parts["methods"] else [])   # the appendix's Methods, which the text refers to
    page = {"meta": meta, "date": f"{meta.date:%B} {meta.date.day}, {meta.date.year}", "toc": toc,
            "affiliations": affiliations, "figures": placed, "credits": photo_credits(placed, scripts, config),
            "references": [(n + 1, r.key, Markup(r.html)) for n, r in enumerate(citer.cited)],
            "cite_text": cite_text, "bibtex": bibtex, "short_cite": _short_cite(meta), **parts, **assets}
    try:
        return template.render(page=page)
    except jinja2.TemplateNotFound as e:
        raise BuildError(f"template {e.name!r} not found in {display_path(config.templates)}",
                         config.templates / "article.html", markdown._jinja_line(e, config.templates / "article.html")) from None
    except jinja2.UndefinedError as e:
        raise BuildError(f"template: {e}", config.templates / "article.html") from None


def _short_cite(meta: FrontMatter) -> str:
    last = [a.last for a in meta.authors]
    who = last[0] if len(last) == 1 else f"{last[0]} & {last[1]}" if len(last) == 2 else f"{last[0]} et al."
    return html.unescape(f"{who}, {meta.date.year}")
