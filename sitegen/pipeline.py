"""The build: a short list of named steps, each a function of (site, config), run into a temporary folder.

    read_article → run_figures → render_pages → copy_assets → export_payloads (sitegen/exports.py),
then the folder replaces config.out by rename, so a failed or interrupted build leaves the previous site
untouched.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from sitegen import cache, citations, frontmatter
from sitegen.config import BuildConfig
from sitegen.errors import BuildError, display_path
from sitegen.exports import export_payloads
from sitegen.figures import FigureScript, discover, failure, make_entry
from sitegen.pages import render_page
from sitegen.worker import run_pool

log = logging.getLogger("build")


@dataclass
class Article:
    path: Path
    text: str
    meta: frontmatter.FrontMatter
    refs: dict[str, citations.Reference]


@dataclass
class Site:
    """What the steps hand on: the staging folder, the article, the figure scripts and their cached outputs."""

    stage: Path
    article: Article | None = None
    scripts: dict[str, FigureScript] = field(default_factory=dict)
    figures: dict[str, dict] = field(default_factory=dict)      # id → index.json (or a "missing" stand-in)
    entries: dict[str, Path] = field(default_factory=dict)      # id → cache entry folder
    regenerated: list[str] = field(default_factory=list)
    html: str = ""


def read_article(site: Site, config: BuildConfig) -> None:
    """Read article/index.md's front matter and article/references.bib."""
    path = config.article / "index.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildError("article not found (the build reads index.md and references.bib from here)", path) from None
    meta, _, _ = frontmatter.parse(text, path)
    site.article = Article(path, text, meta, citations.load(config.article / "references.bib"))


def run_figures(site: Site, config: BuildConfig) -> None:
    """Discover figure scripts, regenerate the stale ones (all, or those named by --only), load every entry."""
    site.scripts = discover(config)
    for fig_id in config.only:
        if fig_id not in site.scripts:
            raise BuildError(f"--only {fig_id}: unknown figure id; known: {', '.join(site.scripts) or 'none'} "
                             f"(scripts in {display_path(config.figures)})")
    cache.clean_temp(config.cache)
    stale = []
    for fig_id, script in site.scripts.items():
        entry = cache.entry_dir(config.cache, fig_id, script.quick, script.key)
        selected = not config.only or fig_id in config.only
        index = None if (selected and config.force) else cache.read_entry(entry)
        if index is None and selected:
            stale.append(script)
        elif index is not None:
            site.figures[fig_id], site.entries[fig_id] = index, entry
    log.info("figures: %d up to date, %d to make%s", len(site.scripts) - len(stale), len(stale),
             f" ({', '.join(s.id for s in stale)})" if stale else "")
    _make(stale, site, config)
    for fig_id, script in site.scripts.items():
        if fig_id not in site.figures:
            _fallback(fig_id, script, site, config)


def _make(stale: list[FigureScript], site: Site, config: BuildConfig) -> None:
    if not stale:
        return
    fractions = {s.id: 0.0 for s in stale}
    bar = tqdm(total=len(stale), unit="fig", desc="figures", disable=None if config.progress else True,
               bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def progress(fig_id: str, done: float, total: float) -> None:
        fractions[fig_id] = min(1.0, done / total) if total else 0.0
        bar.n = sum(fractions.values())
        bar.set_postfix_str(f"{fig_id} {done:g}/{total:g}", refresh=True)

    def finished(script: FigureScript, entry: Path, seconds: float) -> None:
        progress(script.id, 1, 1)
        index = cache.read_entry(entry)
        if index is None:
            raise BuildError(f"figure {script.id!r}: its fresh cache entry does not verify", entry)
        site.figures[script.id], site.entries[script.id] = index, entry
        site.regenerated.append(script.id)
        log.info("figure %s: made in %.1f s", script.id, seconds)

    try:
        if config.jobs == 0:
            for s in stale:
                t0 = time.perf_counter()
                try:
                    entry = make_entry(s.job(config), lambda d, t, i=s.id: progress(i, d, t))
                except Exception as e:  # noqa: BLE001 -- any error of a figure script stops the build
                    raise failure(s.id, s.path, e, config.cache / "logs") from None
                finished(s, entry, time.perf_counter() - t0)
        else:
            _make_in_workers(stale, config, progress, finished)
    finally:
        bar.close()


def _make_in_workers(stale, config, progress, finished) -> None:
    by_id, done = {s.id: s for s in stale}, set()

    def on_event(fig_id: str, ev: dict) -> None:
        s = by_id[fig_id]
        if ev["event"] == "progress":
            progress(fig_id, ev["done"], ev["total"])
        elif ev["event"] == "done":
            done.add(fig_id)
            finished(s, Path(ev["entry"]), ev["seconds"])   # the worker's own time, not time since queued
        elif ev["event"] == "error":
            logs = config.cache / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            (logs / f"{fig_id}.txt").write_text(ev["traceback"])
            raise BuildError(f"figure {fig_id!r} failed: {ev['type']}: {ev['message']} "
                             f"(traceback: {display_path(logs / (fig_id + '.txt'))})", s.path, ev["line"])
        elif ev["event"] == "exit" and fig_id not in done:
            raise BuildError(f"figure {fig_id!r}: its worker process exited with code {ev['code']}", s.path)

    run_pool([s.job(config) for s in stale], config.jobs, on_event)


def _fallback(fig_id: str, script: FigureScript, site: Site, config: BuildConfig) -> None:
    """Use an older cache entry for a figure that --only skipped, or a visible stand-in when there is none."""
    entry = cache.latest_entry(config.cache, fig_id, script.quick)
    index = cache.read_entry(entry) if entry else None
    if index is not None:
        log.warning("figure %s is out of date (skipped by --only): showing its previous result", fig_id)
        site.figures[fig_id], site.entries[fig_id] = index, entry
        return
    log.warning("figure %s was never built (skipped by --only): a placeholder stands in, its numbers read nan",
                fig_id)
    spec = script.spec
    site.figures[fig_id] = {"id": fig_id, "view": spec.view, "title": spec.title, "caption": spec.caption,
                            "layout": spec.layout, "sheets": [], "tiles": {}, "data": {}, "metrics": {},
                            "missing": True}


def render_pages(site: Site, config: BuildConfig) -> None:
    """Render index.html from the article, the figure indices and templates/."""
    scripts = [p.relative_to(config.assets).as_posix() for p in _scripts(config.assets, site.figures)]
    styles = [p.relative_to(config.assets).as_posix() for p in sorted((config.assets / "css").glob("*.css"))]
    assets = {"scripts": [f"assets/{s}" for s in scripts], "styles": [f"assets/{s}" for s in styles]}
    site.html = render_page(site.article, site.figures, site.scripts, config, assets)
    (site.stage / "index.html").write_text(site.html, encoding="utf-8")


def _scripts(assets: Path, figures: dict) -> list[Path]:
    """Return the page's scripts in load order: lib/core.js, lib/, views/, figures/<id>.js, main.js, page.js."""
    js = assets / "js"
    lib = sorted((js / "lib").glob("*.js"), key=lambda p: (p.name != "core.js", p.name))
    own = [js / "figures" / f"{i}.js" for i in figures if (js / "figures" / f"{i}.js").is_file()]
    return lib + sorted((js / "views").glob("*.js")) + own + [p for p in (js / "main.js", js / "page.js") if p.is_file()]


def copy_assets(site: Site, config: BuildConfig) -> None:
    """Copy assets/ (and favicon.ico to the root) and each figure's sprite sheets into the site."""
    if config.assets.is_dir():
        shutil.copytree(config.assets, site.stage / "assets")
        if (config.assets / "favicon.ico").is_file():
            shutil.copy2(config.assets / "favicon.ico", site.stage / "favicon.ico")
    for fig_id, entry in site.entries.items():
        for sheet in site.figures[fig_id]["sheets"]:
            dest = site.stage / sheet["file"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry / Path(sheet["file"]).name, dest)


STEPS = (read_article, run_figures, render_pages, copy_assets, export_payloads)


def build(config: BuildConfig) -> Site:
    """Run the steps into a temporary sibling of config.out, then swap it in; return the finished site."""
    config.out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{config.out.name}.tmp-", dir=config.out.parent))
    site = Site(stage=stage)
    t0 = time.perf_counter()
    try:
        for step in STEPS:
            log.info("%s", step.__name__)
            step(site, config)
        os.chmod(stage, 0o755)
        _swap(stage, config.out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    log.info("built %s in %.1f s (%d figures made)", display_path(config.out / "index.html"),
             time.perf_counter() - t0, len(site.regenerated))
    return site


def _swap(stage: Path, out: Path) -> None:
    """Replace `out` with `stage` by renames: the old site stays whole until the new one is in place."""
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)
