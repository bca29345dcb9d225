"""The build: a short list of named steps, each a function of (site, config), run into a temporary folder.

    read_article → find_figures → make_runs → assemble_figures → render_pages → copy_assets → export_payloads

then the folder replaces config.out by rename, so a failed or interrupted build leaves the previous site
untouched. The runs (the optimizations) are the unit of work: every stale figure declares its runs, the
build computes the missing ones once each on an executor (local workers, in-process, or Ray), storing each
as it arrives, and only then assembles the figures from the results. `export_payloads` (sitegen/exports.py)
writes what the in-browser figure loads on demand.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from sitegen import cache, citations, freeze, frontmatter
from sitegen.config import BuildConfig
from sitegen.errors import BuildError, display_path
from sitegen.executors import local_workers, make_executor
from sitegen.exports import export_payloads
from sitegen.figures import FigureScript, discover, failure, make_entry
from sitegen.pages import render_page
from sitegen.runner import BuildPlan, execute_plan, measure_speed, plan_runs, plan_table
from sitegen.runs import Where, resolve_where
from sitegen.runs.store import RunStore

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
    frozen: list[str] = field(default_factory=list)            # ids taken from frozen/
    compute_s: float = 0.0                                      # seconds spent computing runs
    stale: list[FigureScript] = field(default_factory=list)
    where: Where = field(default_factory=Where)
    plan: BuildPlan | None = None
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


def find_figures(site: Site, config: BuildConfig) -> None:
    """Discover figure scripts; load the entries that are up to date; list the stale ones (all, or --only)."""
    site.scripts = discover(config)
    for fig_id in config.only:
        if fig_id not in site.scripts:
            raise BuildError(f"--only {fig_id}: unknown figure id; known: {', '.join(site.scripts) or 'none'} "
                             f"(scripts in {display_path(config.figures)})")
    cache.clean_temp(config.cache)
    for fig_id, script in site.scripts.items():
        selected = not config.only or fig_id in config.only
        if config.use_frozen and not script.quick and not (selected and config.force):
            index = freeze.read_frozen(config.frozen, fig_id, script.key)   # a bad frozen file stops the build
            if index is not None:
                site.figures[fig_id], site.entries[fig_id] = index, freeze.frozen_dir(config.frozen, fig_id, script.key)
                site.frozen.append(fig_id)
                continue
        entry = cache.entry_dir(config.cache, fig_id, script.quick, script.key)
        index = None if (selected and config.force) else cache.read_entry(entry)
        if index is None and selected:
            site.stale.append(script)
        elif index is not None:
            site.figures[fig_id], site.entries[fig_id] = index, entry
    cached = len(site.scripts) - len(site.stale) - len(site.frozen)
    log.info("figures: %d frozen%s, %d from the cache, %d to make%s", len(site.frozen),
             f" ({', '.join(site.frozen)})" if site.frozen else "", cached, len(site.stale),
             f" ({', '.join(s.id for s in site.stale)})" if site.stale else "")


def make_runs(site: Site, config: BuildConfig) -> None:
    """Compute the runs the stale figures need and the cache lacks, on the executor the options name."""
    site.plan = plan_runs(site.stale, site.where, RunStore(config.cache / "runs"))
    missing = site.plan.missing
    log.info("runs: %d distinct, %d cached, %d to make (%s caricature-steps)", len(site.plan.runs),
             len(site.plan.runs) - len(missing), len(missing), f"{sum(p.run.work for p in missing):,}")
    if not missing:
        return
    executor = make_executor(config.jobs, config.cluster, site.where)
    log.info("executor: %s, %d run(s) at a time, %s", executor.name, executor.slots, site.where.describe())
    bar = tqdm(total=sum(p.run.work for p in missing), unit="car-step", unit_scale=True, desc="runs",
               disable=None if config.progress else True, smoothing=0.05)

    t0 = time.perf_counter()
    store = RunStore(config.cache / "runs")
    lines = None if sys.stderr.isatty() else ProgressLines(missing, store, t0)

    def progress(done: float, total: float) -> None:
        bar.n = done
        bar.refresh()
        if lines is not None:
            lines.update(done, total)

    try:
        execute_plan(site.plan, executor, site.where, store, progress,
                     config.cache / "logs", pack_rows=pack_rows(config, site.where))
    finally:
        bar.close()
        executor.shutdown()
        site.compute_s = time.perf_counter() - t0
    log.info("runs: made %d in %.1f s", len(missing), site.compute_s)


class ProgressLines:
    """The run phase's progress as a log line at a steady interval, for a stderr that is not a terminal
    (CI, `nohup … > log`), where the bar prints nothing: runs done of total, caricature-steps, ETA."""

    INTERVAL_S = 30.0

    def __init__(self, missing, store: RunStore, t0: float, interval: float | None = None):
        self.keys, self.store, self.t0 = [p.key for p in missing], store, t0
        self.interval = self.INTERVAL_S if interval is None else interval
        self.last = t0

    def update(self, done: float, total: float) -> None:
        now = time.perf_counter()
        if now - self.last < self.interval:
            return
        self.last = now
        runs = sum(self.store.has(k) for k in self.keys)
        rate = done / (now - self.t0) if done else 0.0
        eta = f"ETA {_clock((total - done) / rate)}" if rate else "ETA unknown"
        log.info("runs: %d/%d done, %s/%s caricature-steps (%.0f%%), %s elapsed, %s", runs, len(self.keys),
                 f"{int(done):,}", f"{int(total):,}", 100 * done / total if total else 100, _clock(now - self.t0),
                 eta)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def assemble_figures(site: Site, config: BuildConfig) -> None:
    """Assemble each stale figure from its runs' results (no optimization here); fall back for the others."""
    for script in site.stale:
        t0 = time.perf_counter()
        try:
            entry = make_entry(script, config, site.where)
        except BuildError:
            raise
        except Exception as e:  # noqa: BLE001 -- any error of a figure script stops the build
            raise failure(script.id, script.path, e, config.cache / "logs") from None
        index = cache.read_entry(entry)
        if index is None:
            raise BuildError(f"figure {script.id!r}: its fresh cache entry does not verify", entry)
        site.figures[script.id], site.entries[script.id] = index, entry
        site.regenerated.append(script.id)
        log.info("figure %s: assembled in %.1f s", script.id, time.perf_counter() - t0)
    for fig_id, script in site.scripts.items():
        if fig_id not in site.figures:
            _fallback(fig_id, script, site, config)


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


def freeze_figures(site: Site, config: BuildConfig) -> None:
    """With --freeze: write frozen/ from every figure of this build (all of them whole, none a placeholder)."""
    if not config.freeze:
        return
    missing = [i for i, index in site.figures.items() if index.get("missing")]
    if missing:
        raise BuildError(f"--freeze: figures {', '.join(missing)} were not built; build them first")
    entries = {i: (site.scripts[i].key, site.entries[i]) for i in site.scripts}
    counts = freeze.freeze(entries, RunStore(config.cache / "runs"), config.frozen)
    # the build's pages now point at entries that the swap replaced: take the figures from the new store
    for fig_id, (key, _) in entries.items():
        site.entries[fig_id] = freeze.frozen_dir(config.frozen, fig_id, key)
    log.info("froze %d figures into %s (%d new, %d removed), %.1f MB", counts["figures"],
             display_path(config.frozen), counts["new"], counts["removed"], freeze.store_size(config.frozen) / 1e6)


STEPS = (read_article, find_figures, make_runs, assemble_figures, freeze_figures, render_pages, copy_assets,
         export_payloads)


def build(config: BuildConfig) -> Site:
    """Run the steps into a temporary sibling of config.out, then swap it in; return the finished site."""
    config.out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{config.out.name}.tmp-", dir=config.out.parent))
    site = Site(stage=stage, where=resolve_where(config.device, config.precision, config.threads))
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
    log.info("built %s in %.1f s, %.1f s of it computing runs (%d figures made, %d frozen, %d from the cache)",
             display_path(config.out / "index.html"), time.perf_counter() - t0, site.compute_s,
             len(site.regenerated), len(site.frozen), len(site.scripts) - len(site.regenerated) - len(site.frozen))
    return site


def _swap(stage: Path, out: Path) -> None:
    """Replace `out` with `stage` by renames: the old site stays whole until the new one is in place."""
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def show_plan(config: BuildConfig) -> str:
    """Return what a build would compute (python build.py --plan): runs per figure and a wall-time estimate."""
    site = Site(stage=config.out, where=resolve_where(config.device, config.precision, config.threads))
    find_figures(site, config)
    plan = plan_runs(site.stale, site.where, RunStore(config.cache / "runs"))
    slots = make_executor_slots(config, site.where)
    speed = measure_speed(site.where, config.cache) if plan.missing else None
    frozen = f"frozen (done): {', '.join(site.frozen)}\n" if site.frozen else ""
    return frozen + plan_table(plan, speed, slots)


def pack_rows(config: BuildConfig, where: Where) -> int:
    """Return how many caricatures one packed batch may hold: --pack, else 64 on a GPU and none on the CPU."""
    return config.pack if config.pack is not None else (64 if where.device == "cuda" else 0)


def make_executor_slots(config: BuildConfig, where: Where) -> int:
    """Return how many runs the default local executor computes at once (the estimate for --plan)."""
    if config.cluster:
        return 0
    return local_workers(config.jobs, where)
