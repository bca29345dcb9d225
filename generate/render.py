"""The optimization loop: `optimize` runs Adam on a parametrized batch to maximize an objective.

The logical batch is `[original(s), images…]`: originals are fixed photos that go through the same random
transform as the optimized images each step (under no_grad), so objectives can compare against them.
From the objective's terms the engine works out how deep each row must go: the forward pass stops at the
deepest layer needed and an optimized row leaves the batch once its last layer is passed (rows are run
shallowest-first so that dropping is a slice off the front; layers listed shallow to deep need no
reordering). On the CPU the rows are split into groups ("streams") optimized in parallel threads on the
same transform draws, sharing one forward pass of the originals per step; rows are independent, so only
rounding depends on the split. It returns arrays; no display, no file I/O.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
import torch

from generate.models.base import Model
from generate.objectives import Objective, Rows, Term
from generate.param import ImageFn, Param
from generate.prepare import prepare_model, resolve_precision
from generate.transforms import Identity, RandomTransform

Progress = Callable[[int, int, float], None]


@dataclass
class Render:
    """What `optimize` returns: images (N, H, W, 3) float32 in [0, 1] in row order, and the run's record."""
    images: np.ndarray
    snapshots: dict[int, np.ndarray]     # step → (N, H, W, 3); step 0 is the initial image
    history: np.ndarray                  # (steps, terms): each weighted term per step, on transformed images
    terms: list[str]
    seconds: float
    precision: str
    streams: int = 1                     # row groups optimized in parallel threads


@dataclass
class Plan:
    """How deep each row goes: stage counts, run order and the layers each part of the batch must produce."""
    order: list[int]           # optimized rows, shallowest first (position → row)
    alive: list[int]           # how many rows of `order` (the last ones) enter stage i
    row_layer: list[str | None]  # each optimized row's deepest layer (None: unused)
    layers: list[str]          # layers the optimized rows must produce
    original_layers: list[str]


def plan_batch(model: Model, objective: Objective, n_originals: int, n_rows: int,
               row_ids: Sequence[int] | None = None) -> Plan:
    """Work out truncation and row dropping from the rows and layers each objective term reads.

    row_ids: the logical batch positions of the n_rows optimized rows (default: n_originals, n_originals + 1, …).
    """
    ids = list(range(n_originals, n_originals + n_rows)) if row_ids is None else list(row_ids)
    local = {r: j for j, r in enumerate(ids)}
    stage = {name: model.layer(name).stage for name in objective.layers}
    depth, row_layer = [-1] * n_rows, [None] * n_rows
    layers: dict[str, None] = {}
    original_layers: dict[str, None] = {}
    for _, term in objective.terms:
        rows = [*range(n_originals), *ids] if term.rows is None else term.rows
        for r in rows:
            if not (0 <= r < n_originals or r in local):
                raise ValueError(f"objective {term.name} reads row {r}, but the batch has "
                                 f"{n_originals} original(s) and {n_rows} optimized row(s)")
            if r < n_originals:
                original_layers[term.layer] = None
                continue
            layers[term.layer] = None
            j = local[r]
            if stage[term.layer] > depth[j]:
                depth[j], row_layer[j] = stage[term.layer], term.layer
    order = sorted(range(n_rows), key=lambda r: depth[r])
    alive = [sum(d >= i for d in depth) for i in range(max(depth, default=-1) + 1)]
    return Plan(order, alive, row_layer, list(layers), list(original_layers))


class Runner:
    """Run a prepared model's stages on a batch, truncated and dropping rows, collecting named layers.

    Several runners may share a model across threads: a hook keeps an output only for its own runner's thread.
    """

    def __init__(self, model: Model, layers: Sequence[str]):
        self.model, self.sink, self.thread = model, {}, None
        self.handles = []
        for name in dict.fromkeys(layers):
            lay = model.layer(name)
            if lay.module is not None:
                sub = model.stages[lay.stage].get_submodule(lay.module)
                self.handles.append(sub.register_forward_hook(lambda _m, _i, out, n=name: self._keep(n, out)))

    def _keep(self, name: str, out: torch.Tensor) -> None:
        if threading.get_ident() == self.thread:
            self.sink[name] = out

    def __call__(self, x: torch.Tensor, layers: Sequence[str], alive: Sequence[int] | None = None
                 ) -> dict[str, torch.Tensor]:
        """Return the activations `layers` of x; before stage i, keep only the last alive[i] rows."""
        wanted = [self.model.layer(n) for n in layers]
        last = max(lay.stage for lay in wanted)
        self.sink.clear()
        self.thread = threading.get_ident()
        x = self.model.preprocess(x)
        for i in range(last + 1):
            if alive is not None and alive[i] < x.shape[0]:
                x = x[x.shape[0] - alive[i]:]
            x = self.model.stages[i](x)
            for lay in wanted:
                if lay.stage == i and lay.module is None:
                    self.sink[lay.name] = x
        return {n: self.sink[n] for n in layers}

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def to_numpy(images: torch.Tensor) -> np.ndarray:
    """Convert a (N, 3, H, W) tensor to a (N, H, W, 3) float32 array."""
    return images.detach().float().permute(0, 2, 3, 1).cpu().numpy().copy()


def _check_image(img: torch.Tensor, step: int, plan: Plan, rows: Sequence[int]) -> None:
    """Raise naming the first image with a non-finite pixel; rows[i] is image i's optimized-row number."""
    bad = (~torch.isfinite(img).flatten(1).all(1)).nonzero().flatten().tolist()
    if bad:
        raise RuntimeError(f"step {step}: image row {rows[bad[0]]} (layer {plan.row_layer[bad[0]]}) has "
                           "non-finite pixels; lower the learning rate or check the objective")


def _check_values(values: list[torch.Tensor], objective: Objective, step: int) -> None:
    for v, (_, term) in zip(values, objective.terms):
        if not torch.isfinite(v):
            raise RuntimeError(f"step {step}: objective term {term.name} at layer {term.layer} is "
                               f"{v.item()}; lower the learning rate or check the objective")


@dataclass
class Stream:
    """One group of optimized rows that runs on its own thread: its rows, terms and parametrization."""
    rows: list[int]               # optimized-row positions (0-based, after the originals)
    terms: list[int]              # indices into objective.terms
    param: Param | tuple[list[torch.Tensor], ImageFn]


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


MAX_STREAMS = 4  # measured only on 2 cores; more Python threads would fight over the GIL for small ops


def default_streams(device: torch.device) -> int:
    """How many row groups to run in parallel: one per CPU thread, at most MAX_STREAMS (two 1-thread
    streams on 2 cores beat one 2-thread stream, bench/bench_engine.py); one on a GPU."""
    return min(torch.get_num_threads(), MAX_STREAMS) if device.type == "cpu" else 1


def optimize(model: Model, objective: Objective, param: Param | tuple[list[torch.Tensor], ImageFn],
             transforms: RandomTransform | Identity, steps: int, *, originals: torch.Tensor | None = None,
             lr: float = 0.05, snapshots: Sequence[int] = (), precision: str = "auto",
             progress: Progress | None = None, drop_rows: bool = True, streams: int | None = None) -> Render:
    """Maximize `objective` over the parametrized images with Adam for `steps` steps.

    param: a `Param` (or `(params, image_fn)`); its device is the run's device. originals: (P, 3, H, W) in
    [0, 1], rows 0…P−1 of the logical batch. precision: "fp32", "bf16" or "auto" (bf16 where the hardware
    has it). Raises RuntimeError naming the step and layer if the objective or the image stops being finite.
    drop_rows=False runs every row to the deepest layer (for measuring what dropping saves). streams: how
    many groups of rows to optimize in parallel threads (default: `default_streams`); only a `Param` splits.
    """
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    params, image_fn = param
    device = params[0].device
    precision = resolve_precision(precision, device)
    prepared = model.meta.get("prepared")
    if not prepared or prepared["device"] != str(device) or prepared["precision"] != precision:
        model = prepare_model(model, device, precision)
    n_orig = 0 if originals is None else originals.shape[0]
    if originals is not None:
        originals = originals.to(device, torch.float32)
    with torch.no_grad():
        n_rows = image_fn().shape[0]
    k = default_streams(device) if streams is None else streams
    groups = row_groups(model, objective, n_orig, n_rows, k) if isinstance(param, Param) else [list(range(n_rows))]
    all_terms = list(range(len(objective.terms)))
    if len(groups) == 1:
        run = [Stream(list(range(n_rows)), all_terms, param)]
    else:
        of_row = {r: g for g, rows in enumerate(groups) for r in rows}
        terms = [[] for _ in groups]
        for i, (_, term) in enumerate(objective.terms):
            mine = [r - n_orig for r in term.rows if r >= n_orig]
            terms[of_row[mine[0]] if mine else 0].append(i)
        run = [Stream(rows, t, param.rows(rows)) for rows, t in zip(groups, terms)]
    draws = [transforms.draw() for _ in range(steps)]
    start = time.perf_counter()
    results = _run_streams(model, objective, run, transforms, draws, originals, n_orig, lr, snapshots,
                           precision, progress, drop_rows)
    images = np.empty((n_rows, *results[0].images.shape[1:]), np.float32)
    snaps = {s: np.empty_like(images) for s in results[0].snapshots}
    history = np.empty((steps, len(objective.terms)), np.float32)
    for stream, res in zip(run, results):
        images[stream.rows] = res.images
        for s, snap in res.snapshots.items():
            snaps[s][stream.rows] = snap
        history[:, stream.terms] = res.history
    if len(run) > 1:  # the caller's parametrization ends where the streams ended
        with torch.no_grad():
            for i, full in enumerate(params):
                for stream in run:
                    full[torch.as_tensor(stream.rows, device=device)] = stream.param.tensors[i].detach()
    return Render(images, snaps, history, [t.name for _, t in objective.terms], time.perf_counter() - start,
                  precision, len(run))


def _run_streams(model, objective, run: list[Stream], transforms, draws, originals, n_orig, lr, snapshots,
                 precision, progress, drop_rows) -> list[Render]:
    """Run each stream's descent, in parallel threads when there are several; re-raise the first error."""
    if len(run) == 1:
        return [_descend(model, objective, run[0], transforms, draws, originals, n_orig, lr, snapshots,
                         precision, progress, drop_rows, None, None)]
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
                progress(min(done), len(draws), sum(totals))

    def work(i: int) -> Render:
        torch.set_num_threads(threads)  # this thread's OpenMP team only
        try:
            return _descend(model, objective, run[i], transforms, draws, originals, n_orig, lr, snapshots,
                            precision, lambda s, _n, v: report(i, s, v), drop_rows, stop, shared)
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
        raise ([e for e in errors if not isinstance(e, _Stopped)] or errors)[0]
    return [f.result() for f in futures]


def _reads_originals(term: Term, n_orig: int) -> bool:
    return n_orig > 0 and (term.rows is None or min(term.rows) < n_orig)


class _Stopped(Exception):
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
            raise _Stopped()


def _descend(model, objective, stream: Stream, transforms, draws, originals, n_orig, lr, snapshots, precision,
             progress, drop_rows, stop: threading.Event | None, shared: SharedOriginals | None) -> Render:
    """Adam on one stream's rows through the given transform draws; images and history in stream order.

    shared: where the streams of one run share the originals' activations (None: this stream computes them).
    """
    params, image_fn = stream.param
    device = params[0].device
    objective = Objective([objective.terms[i] for i in stream.terms], objective.name)
    ids = [n_orig + r for r in stream.rows]
    n_rows = len(ids)
    plan = plan_batch(model, objective, n_orig, n_rows, ids)
    original_layers = plan.original_layers if shared is None else shared.layers
    order = None if plan.order == sorted(plan.order) else torch.tensor(plan.order, device=device)
    runner = Runner(model, plan.layers + original_layers)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    channels_last = model.meta["prepared"]["channels_last"]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    opt = torch.optim.Adam(params, lr=lr, fused=True)
    snaps, history, cached = {}, [], None
    steps = len(draws)

    def forward_originals(draw) -> dict[str, torch.Tensor]:
        with torch.no_grad(), autocast:
            return runner(transforms(originals, draw).contiguous(memory_format=layout), original_layers)

    start = time.perf_counter()
    try:
        if 0 in snapshots:
            with torch.no_grad():
                snaps[0] = to_numpy(image_fn())
        for step, draw in enumerate(draws, 1):
            if stop is not None and stop.is_set():
                raise _Stopped()
            opt.zero_grad(set_to_none=True)
            img = image_fn()
            acts = {name: Rows(name) for name in objective.layers}
            if plan.original_layers:
                if draw is not None and shared is not None:
                    cached = shared.get(step, lambda: forward_originals(draw))
                elif cached is None or draw is not None:
                    cached = forward_originals(draw)
                for name in plan.original_layers:
                    acts[name].add(cached[name], {i: i for i in range(n_orig)})
            if plan.layers:
                x = transforms(img if order is None else img.index_select(0, order), draw)
                x = x.contiguous(memory_format=layout)
                with autocast:
                    out = runner(x, plan.layers, plan.alive if drop_rows else None)
                for name, t in out.items():
                    first = n_rows - t.shape[0]
                    acts[name].add(t, {ids[plan.order[first + k]]: k for k in range(t.shape[0])})
            values = objective.values(acts)
            total = torch.stack([v.float() for v in values]).sum()
            # The image is checked too: a fused conv → ReLU6 maps NaN to 0, so NaN pixels need not reach total.
            if not (torch.isfinite(total) and torch.isfinite(img).all()):
                _check_image(img.detach(), step, plan, stream.rows)
                _check_values(values, objective, step)
                raise RuntimeError(f"step {step}: objective {objective.name} is {total.item()}")
            (-total).backward()
            opt.step()
            history.append(torch.stack([v.detach().float() for v in values]))
            if step in snapshots:
                with torch.no_grad():
                    snaps[step] = to_numpy(image_fn())
            if progress is not None:
                progress(step, steps, float(total.detach()))
        with torch.no_grad():
            final = image_fn()
        _check_image(final, steps, plan, stream.rows)
    finally:
        runner.close()
    return Render(to_numpy(final), snaps, torch.stack(history).cpu().numpy(),
                  [t.name for _, t in objective.terms], time.perf_counter() - start, precision)
