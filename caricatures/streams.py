"""Row streams: on the CPU, optimize groups of rows in parallel threads on the same transform draws.

Every row's optimization is independent of the others, so splitting the rows changes rounding only (with one
thread in all, nothing). Two streams of one thread each ran 1.1–1.3× faster than one 2-thread stream on the
project's 2 cores (bench/bench_engine.py): small ops and barriers keep one stream from filling both. The
streams of one run share the originals' forward pass of each step (`SharedOriginals`).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from caricatures.forward import plan_batch
from caricatures.models.base import Model
from caricatures.objectives import Objective, Term
from caricatures.param import ImageFn, Param

if TYPE_CHECKING:
    from caricatures.render import Progress, Render

MAX_STREAMS = 4  # measured only on 2 cores; more Python threads would fight over the GIL for small ops


@dataclass
class Stream:
    """One group of optimized rows that runs on its own thread: its rows, terms and parametrization."""
    rows: list[int]               # optimized-row positions (0-based, after the originals)
    terms: list[int]              # indices into objective.terms
    param: Param | tuple[list[torch.Tensor], ImageFn]


# descend(stream, progress, stop, shared): one stream's optimization (render._descend on the run's draws).
Descend = Callable[["Stream", "Progress | None", "threading.Event | None", "SharedOriginals | None"], "Render"]


def default_streams(device: torch.device) -> int:
    """Return how many row groups to run in parallel: one per CPU thread, at most MAX_STREAMS; one on a GPU."""
    return min(torch.get_num_threads(), MAX_STREAMS) if device.type == "cpu" else 1


def row_groups(model: Model, objective: Objective, n_originals: int, n_rows: int, k: int) -> list[list[int]]:
    """Split the optimized rows into at most k groups of similar cost that no objective term straddles.

    Rows read together by one term stay together; a term reading every row (rows=None) keeps one group.
    A row's cost is the activation volume of the stages it runs through (shallow stages are the big ones).
    """
    if any(t.rows is None for _, t in objective.terms):
        return [list(range(n_rows))]
    parent = list(range(n_rows))

    def root(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r
    for _, term in objective.terms:
        rows = [r - n_originals for r in term.rows if r >= n_originals]
        for r in rows[1:]:
            parent[root(r)] = root(rows[0])
    stage_cost: dict[int, int] = {}
    for lay in model.layers.values():
        stage_cost[lay.stage] = max(stage_cost.get(lay.stage, 0), math.prod(model.shape(lay.name)))
    cumulative = np.cumsum([stage_cost.get(i, 0) for i in range(max(stage_cost) + 1)])
    deepest = plan_batch(model, objective, n_originals, n_rows).row_layer
    cost = [0 if name is None else cumulative[model.layer(name).stage] for name in deepest]
    parts: dict[int, list[int]] = {}
    for r in range(n_rows):
        parts.setdefault(root(r), []).append(r)
    weighed = sorted(((sum(cost[r] for r in part), part) for part in parts.values()), key=lambda cp: -cp[0])
    groups: list[list[int]] = [[] for _ in range(min(k, len(parts)))]
    load = [0.0] * len(groups)
    for c, part in weighed:
        g = load.index(min(load))
        groups[g] += part
        load[g] += c
    return [sorted(g) for g in groups]


def split(model: Model, objective: Objective, param: Param | tuple[list[torch.Tensor], ImageFn], n_orig: int,
          n_rows: int, k: int) -> list[Stream]:
    """Return one stream per row group, with the terms that read its rows and its own copy of their
    parametrization; only a `Param` splits (a bare `(params, image_fn)` is one stream of every row)."""
    groups = row_groups(model, objective, n_orig, n_rows, k) if isinstance(param, Param) else [list(range(n_rows))]
    if len(groups) == 1:
        return [Stream(list(range(n_rows)), list(range(len(objective.terms))), param)]
    of_row = {r: g for g, rows in enumerate(groups) for r in rows}
    terms = [[] for _ in groups]
    for i, (_, term) in enumerate(objective.terms):
        mine = [r - n_orig for r in term.rows if r >= n_orig]
        terms[of_row[mine[0]] if mine else 0].append(i)
    return [Stream(rows, t, param.rows(rows)) for rows, t in zip(groups, terms)]


def join(run: list[Stream], results: list[Render], params: list[torch.Tensor], steps: int, n_terms: int
         ) -> tuple[np.ndarray, dict[int, np.ndarray], np.ndarray]:
    """Return the streams' images, snapshots and history in row order; copy where the streams ended into
    the caller's parametrization."""
    images = np.empty((sum(len(s.rows) for s in run), *results[0].images.shape[1:]), np.float32)
    snaps = {s: np.empty_like(images) for s in results[0].snapshots}
    history = np.empty((steps, n_terms), np.float32)
    for stream, res in zip(run, results):
        images[stream.rows] = res.images
        for s, snap in res.snapshots.items():
            snaps[s][stream.rows] = snap
        history[:, stream.terms] = res.history
    if len(run) > 1:
        with torch.no_grad():
            for i, full in enumerate(params):
                for stream in run:
                    full[torch.as_tensor(stream.rows, device=full.device)] = stream.param.tensors[i].detach()
    return images, snaps, history


def run_streams(descend: Descend, run: list[Stream], model: Model, objective: Objective, n_orig: int, steps: int,
                progress: Progress | None) -> list[Render]:
    """Run each stream's descent in its own thread (cores shared out); re-raise the first error."""
    threads = max(1, torch.get_num_threads() // len(run))
    stop, lock = threading.Event(), threading.Lock()
    n_rows = sum(len(stream.rows) for stream in run)
    readers = sum(any(_reads_originals(objective.terms[t][1], n_orig) for t in s.terms) for s in run)
    layers = plan_batch(model, objective, n_orig, n_rows).original_layers
    shared = SharedOriginals(layers, readers, stop) if readers > 1 else None
    done, totals = [0] * len(run), [0.0] * len(run)

    def report(i: int, step: int, total: float) -> None:
        with lock:
            before = min(done)
            done[i], totals[i] = step, total
            if progress is not None and min(done) > before:
                progress(min(done), steps, sum(totals))

    def work(i: int) -> Render:
        torch.set_num_threads(threads)  # this thread's OpenMP team only
        try:
            return descend(run[i], lambda s, _n, v: report(i, s, v), stop, shared)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(len(run)) as pool:
        futures = [pool.submit(work, i) for i in range(len(run))]
        try:
            wait(futures)
        except BaseException:  # e.g. Ctrl-C in this thread: the streams stop at their next step
            stop.set()
            raise
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise ([e for e in errors if not isinstance(e, Stopped)] or errors)[0]
    return [f.result() for f in futures]


def _reads_originals(term: Term, n_orig: int) -> bool:
    return n_orig > 0 and (term.rows is None or min(term.rows) < n_orig)


class Stopped(Exception):
    """Another stream failed; this one stopped early."""


class SharedOriginals:
    """The originals' activations for each step, computed once for all streams.

    The first stream to reach a step runs the originals' forward pass (every layer any stream reads from
    them); the others wait for it, then read the same tensors. So the stream that runs ahead takes on the
    shared work, which also evens out the streams. A step's entry is dropped once every stream has read it,
    and a stream may run at most `ahead` steps past the oldest unread one (to bound memory).
    """

    def __init__(self, layers: list[str], readers: int, stop: threading.Event, ahead: int = 16):
        self.layers, self.readers, self.stop, self.ahead = layers, readers, stop, ahead
        self.changed = threading.Condition()
        self.entries: dict[int, list] = {}  # step → [ready event, activations, readers so far]

    def get(self, step: int, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Return step's activations, computing them with `compute` if this stream is the first to ask."""
        with self.changed:
            entry = self.entries.get(step)
            mine = entry is None
            if mine:
                while self.entries and step - min(self.entries) >= self.ahead:
                    self._check_stop()
                    self.changed.wait(0.05)
                entry = self.entries[step] = [threading.Event(), None, 0]
        if mine:
            entry[1] = compute()
            entry[0].set()
        else:
            while not entry[0].wait(0.05):
                self._check_stop()
        with self.changed:
            entry[2] += 1
            if entry[2] == self.readers:
                del self.entries[step]
                self.changed.notify_all()
        return entry[1]

    def _check_stop(self) -> None:
        if self.stop.is_set():  # another stream failed
            raise Stopped()
