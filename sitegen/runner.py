"""The run phase of the build: the runs of the stale figures, deduplicated, the cached ones skipped, the rest
computed by an executor, longest first, each result stored as it arrives.

    plan = plan_runs(scripts, where, store)      # per figure its run keys; one entry per distinct key
    print(plan_table(plan, estimate))            # python build.py --plan
    execute_plan(plan, executor, where, store, progress)

A build stopped part-way (Ctrl-C, a killed process) loses only the runs in flight: the next build finds the
others in the cache and resumes.

Runs on a fine-tuned checkpoint depend on their fine-tune run: their key is known only once its result is
stored. The plan lists such a child under a placeholder key ("pending:…", never cached) and `execute_plan`
computes in waves: the runs it can key, then the children whose parents are now stored, and so on.
"""
from __future__ import annotations

import hashlib
import heapq
import logging
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from caricatures.files import write_atomic
from sitegen.errors import BuildError, display_path
from sitegen.figures import FigureScript
from sitegen.runs import ParentPending, Run, Where, pack_key, resolve, run_key
from sitegen.runs.store import RunStore

log = logging.getLogger("build")
ATTEMPTS = 3    # a run whose worker dies is tried this many times


@dataclass
class PlannedRun:
    key: str
    run: Run
    figures: list[str]
    cached: bool
    parent: Run | None = None    # set while the key waits for this run's result (the key is a placeholder)


@dataclass
class BuildPlan:
    """Every distinct run the stale figures need, and which figure needs which."""

    runs: dict[str, PlannedRun] = field(default_factory=dict)
    by_figure: dict[str, list[str]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def missing(self) -> list[PlannedRun]:
        return [p for p in self.runs.values() if not p.cached]

    @property
    def ready(self) -> list[PlannedRun]:
        """Return the missing runs whose keys are known (no parent to wait for)."""
        return [p for p in self.missing if p.parent is None]

    def add(self, figure: str, run: Run, where: Where, store: RunStore) -> str:
        """Add `run` for `figure` (its parent first, when it waits for one); return its key or placeholder."""
        try:
            run = resolve(run, where, store)
            key, parent = run_key(run, where), None
        except ParentPending as e:
            parent = e.parent
            self.add(figure, parent, where, store)
            key = f"pending:{hashlib.sha256(repr(run).encode()).hexdigest()}"
        if key not in self.runs:
            self.runs[key] = PlannedRun(key, run, [], parent is None and store.has(key), parent)
        if figure not in self.runs[key].figures:
            self.runs[key].figures.append(figure)
        self.by_figure.setdefault(figure, [])
        if key not in self.by_figure[figure]:
            self.by_figure[figure].append(key)
        return key

    def settle(self, where: Where, store: RunStore) -> None:
        """Give every waiting run whose parent is now stored its real key (merging duplicates)."""
        for old, p in list(self.runs.items()):
            if p.parent is None:
                continue
            try:
                run = resolve(p.run, where, store)
            except ParentPending:
                continue
            key = run_key(run, where)
            del self.runs[old]
            known = self.runs.setdefault(key, PlannedRun(key, run, [], store.has(key)))
            known.figures += [f for f in p.figures if f not in known.figures]
            for keys in self.by_figure.values():
                if old in keys:
                    keys[keys.index(old)] = key
                    keys[:] = list(dict.fromkeys(keys))


def plan_runs(scripts: list[FigureScript], where: Where, store: RunStore) -> BuildPlan:
    """Collect the runs of `scripts`, deduplicated by key, each marked cached or not; a run that waits for a
    parent's result gets a placeholder key, and its parent is added to the plan when a figure did not."""
    plan = BuildPlan()
    for script in scripts:
        plan.by_figure[script.id] = []
        for run in script.runs():
            plan.add(script.id, run, where, store)
        plan.paths[script.id] = script.path
    return plan


@dataclass(frozen=True)
class Speed:
    """This machine's speed per worker: caricature-steps/s of Lite0 at SPEED_SIZE px (four photos, three layers,
    the article's usual batch) and fine-tune images/s of Lite0 at FINETUNE_SIZE px (batch 32)."""

    caricature: float
    finetune: float


SPEED_SIZE, FINETUNE_SIZE = 224, 64
NOMINAL = Speed(caricature=40.0, finetune=90.0)   # a 2-core Xeon's, to order jobs before any measurement
MODEL_COST = {"efficientnet_lite1": 1.2, "efficientnet_lite2": 1.35, "mobilenet_v2": 1.1}   # per pixel, vs Lite0


def run_cost(run: Run, speed: Speed) -> float:
    """Return the estimated seconds of a run: its caricature-steps (or fine-tune images) at the measured speed,
    scaled by image area and by the model's cost relative to Lite0. Area scaling holds near the measured size
    only (a 128-px batch of one photo runs at about 40% of the 224-px batch's speed per pixel), which is why
    the speed is measured at the size that most runs use."""
    from caricatures.models import input_size
    size = run.options.get("size") or input_size(run.model.name)
    if run.kind == "finetune":
        return run.work * (size / FINETUNE_SIZE) ** 2 / speed.finetune
    return run.work * (size / SPEED_SIZE) ** 2 * MODEL_COST.get(run.model.name, 1.0) / speed.caricature


def makespan(costs: list[float], slots: int) -> float:
    """Return the wall time of running jobs of these costs longest first on `slots` workers."""
    ends = [0.0] * max(1, slots)
    for c in sorted(costs, reverse=True):
        heapq.heapreplace(ends, ends[0] + c)
    return max(ends)


def plan_table(plan: BuildPlan, speed: Speed | None, slots: int) -> str:
    """Return the --plan listing: per figure its runs, caricature-steps and how many are cached; an estimate."""
    lines = [f"{'figure':<22}{'runs':>6}{'cached':>8}{'car-steps':>12}{'to make':>12}"]
    for fig, keys in plan.by_figure.items():
        runs = [plan.runs[k] for k in keys]
        lines.append(f"{fig:<22}{len(runs):>6}{sum(r.cached for r in runs):>8}"
                     f"{sum(r.run.work for r in runs):>12,}{sum(r.run.work for r in runs if not r.cached):>12,}")
    missing = plan.missing
    work = sum(r.run.work for r in missing)
    lines.append(f"{len(plan.runs)} distinct runs, {len(missing)} to make: {work:,} caricature-steps")
    if speed and missing:
        costs = [run_cost(r.run, speed) for r in missing]
        wall = f"{_hms(makespan(costs, slots))} wall on {slots} worker(s) " if slots else ""
        lines.append(f"estimate: {wall}{_hms(sum(costs))} of work at this machine's speed per worker "
                     f"({speed.caricature:.1f} caricature-steps/s on Lite0 at {SPEED_SIZE} px, "
                     f"{speed.finetune:.0f} fine-tune images/s at {FINETUNE_SIZE} px)")
    return "\n".join(lines)


def _hms(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def pack_jobs(todo: list[PlannedRun], rows: int) -> list[list[PlannedRun]]:
    """Group runs that share model, layers, steps and settings into jobs of at most `rows` caricatures (counted at
    the model's input size); rows 0 keeps every run a job of its own. Jobs come longest first."""
    from caricatures.models import input_size
    jobs: list[list[PlannedRun]] = []
    if rows <= 0:
        jobs = [[p] for p in todo]
    else:
        groups: dict = {}
        for p in todo:
            key = pack_key(p.run)
            groups.setdefault(key if key is not None else p.key, []).append(p)
        for members in groups.values():
            job, used = [], 0.0
            for p in members:
                native = input_size(p.run.model.name)
                need = p.run.rows * ((p.run.options.get("size") or native) / native) ** 2
                if job and used + need > rows:
                    jobs.append(job)
                    job, used = [], 0.0
                job.append(p)
                used += need
            jobs.append(job)
    return sorted(jobs, key=lambda job: sum(run_cost(p.run, NOMINAL) for p in job), reverse=True)


def execute_plan(plan: BuildPlan, executor, where: Where, store: RunStore, progress=None, log_dir: Path | None = None,
                 pack_rows: int = 0) -> None:
    """Compute the missing runs (longest first; packed into batches of up to `pack_rows` caricatures when it is
    positive), storing each result as it arrives; in waves, when some runs wait for others' results.

    progress(done, total) is called with caricature-steps. A run that raises stops the build with a
    BuildError naming it and the figures that need it; a job whose worker dies is tried again (ATTEMPTS).
    """
    total = sum(p.run.work for p in plan.missing)
    done = 0
    while plan.missing:
        wave = plan.ready
        if not wave:
            raise BuildError(f"runs wait for parents that no figure computes: {plan.missing[0].run}",
                             plan.paths[plan.missing[0].figures[0]])
        _execute_wave(plan, wave, executor, where, store, progress, log_dir, pack_rows, done, total)
        done += sum(p.run.work for p in wave)
        for p in wave:
            p.cached = True
        plan.settle(where, store)


def _execute_wave(plan: BuildPlan, wave: list[PlannedRun], executor, where: Where, store: RunStore, progress,
                  log_dir: Path | None, pack_rows: int, before: int, total: int) -> None:
    jobs = pack_jobs(wave, pack_rows)
    finished, partial, attempts = before, {}, {}
    inflight = {}

    def submit(job: list[PlannedRun]) -> None:
        key = job[0].key
        attempts[key] = attempts.get(key, 0) + 1
        partial[key] = 0
        inflight[executor.submit([p.run for p in job], where, key)] = job

    def report() -> None:
        for key, done in executor.progress():
            if key in partial:
                partial[key] = done
        if progress:
            progress(finished + sum(partial.values()), total)

    for job in jobs:
        submit(job)
    while inflight:
        done, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
        broken = []
        for f in done:
            job = inflight.pop(f)
            try:
                results = f.result()
            except BrokenProcessPool:
                broken.append(job)
                continue
            except Exception as e:  # noqa: BLE001 -- any error of a run stops the build, naming it
                raise _failure(job, e, plan, log_dir) from None
            for p, (arrays, prov) in zip(job, results):
                store.put(p.key, p.run.describe(), arrays, prov)
                finished += p.run.work
            partial.pop(job[0].key, None)
        if broken:   # a worker died: every job in flight with it is lost; start a fresh pool and retry them
            lost = broken + list(inflight.values())
            inflight.clear()
            executor.restart()
            for job in lost:
                if attempts[job[0].key] >= ATTEMPTS:
                    raise BuildError(f"run failed: its worker process died {ATTEMPTS} times: {job[0].run} "
                                     f"(needed by {', '.join(job[0].figures)})", plan.paths[job[0].figures[0]])
                log.warning("a worker died; trying again: %s", job[0].run)
                submit(job)
        report()


def _failure(job: list[PlannedRun], e: BaseException, plan: BuildPlan, log_dir: Path | None) -> BuildError:
    p, where = job[0], ""
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"run-{p.key[:12]}.txt"
        write_atomic(path, "".join(traceback.format_exception(e)).encode())
        where = f"; traceback: {display_path(path)}"
    packed = f" (packed with {len(job) - 1} other runs)" if len(job) > 1 else ""
    return BuildError(f"figure {p.figures[0]!r}: run failed: {type(e).__name__}: {e} — the run: {p.run}{packed} "
                      f"(needed by {', '.join(p.figures)}{where})", plan.paths[p.figures[0]])


def measure_speed(where: Where, cache: Path) -> Speed:
    """Return this machine's Speed per worker (see Speed), measured once a day (about 10 s) and kept in
    `cache`/speed.json."""
    import json

    from sitegen.runs import ModelRef, caricature, cpu_name, finetune
    path = cache / "speed.json"
    ident = f"{cpu_name()}|{where.describe()}"
    try:
        known = json.loads(path.read_text())
        if known["ident"] == ident and time.time() - known["time"] < 86400:
            return Speed(**known["speed"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    lite0 = ModelRef("efficientnet_lite0")
    photos = ["images/animals/panda.jpg", "images/animals/cat.jpg", "images/objects/coffee.jpg",
              "images/places/machupicchu.jpg"]
    speed = Speed(
        caricature=_rate(caricature(lite0, photos, ["block2", "block7", "block14"], steps=8, size=SPEED_SIZE), where),
        finetune=_rate(finetune(lite0.name, "dead-leaves", steps=8, batch=32, lr=0.002, size=FINETUNE_SIZE, seed=0,
                                checkpoints=[8], test=2), where))
    cache.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"ident": ident, "time": time.time(), "speed": speed.__dict__}).encode())
    return speed


def _rate(run: Run, where: Where) -> float:
    """Return the run's work done per second, leaving out its first steps (allocation, first touch)."""
    from sitegen.runs import execute
    stamps: list[tuple[float, float]] = []
    execute(run, where, lambda done: stamps.append((time.perf_counter(), done)))
    (t0, d0), (t1, d1) = stamps[2], stamps[-2]   # nor the last one (a fine-tune's checkpoint and test)
    return (d1 - d0) / (t1 - t0)
