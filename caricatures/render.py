"""The optimization loop: `optimize` runs Adam on a parametrized batch to maximize an objective.

The logical batch is `[original(s), images…]`: originals are fixed photos that go through the same random
transform as the optimized images each step (under no_grad), so objectives can compare against them. Each
step draws the images from their parametrization, transforms the whole batch with that step's draw, runs
the model only as deep as the objective reads (`forward`), evaluates the objective and takes an Adam step.
On the CPU the rows are optimized in parallel groups on the same draws (`streams`); every row's optimization
is independent, so only rounding depends on the split. It returns arrays; no display, no file I/O.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from caricatures.forward import Plan, Runner, plan_batch
from caricatures.models.base import Model
from caricatures.objectives import Objective, Rows
from caricatures.param import ImageFn, Param
from caricatures.prepare import prepare_model, resolve_precision
from caricatures.schedule import Rates, adam
from caricatures.streams import (
    SharedOriginals,
    Stopped,
    Stream,
    default_streams,
    join,
    row_groups,
    run_streams,
    split,
)
from caricatures.transforms import Identity, RandomTransform

__all__ = ["Plan", "Progress", "Render", "Runner", "SharedOriginals", "default_streams", "optimize", "plan_batch",
           "row_groups", "to_numpy"]

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


def to_numpy(images: torch.Tensor) -> np.ndarray:
    """Convert a (N, 3, H, W) tensor to a (N, H, W, 3) float32 array."""
    return images.detach().float().permute(0, 2, 3, 1).cpu().numpy().copy()


def optimize(model: Model, objective: Objective, param: Param | tuple[list[torch.Tensor], ImageFn],
             transforms: RandomTransform | Identity, steps: int, *, originals: torch.Tensor | None = None,
             lr: float | Rates = 0.05, snapshots: Sequence[int] = (), precision: str = "auto",
             progress: Progress | None = None, drop_rows: bool = True, streams: int | None = None) -> Render:
    """Maximize `objective` over the parametrized images with Adam for `steps` steps (at least 1: the callers
    validate their settings, `settings.check_steps`; the loop checks nothing again).

    param: a `Param` (or `(params, image_fn)`); its device is the run's device. originals: (P, 3, H, W) in
    [0, 1], rows 0…P−1 of the logical batch. precision: "fp32", "bf16" or "auto" (bf16 where the hardware
    has it). lr: one rate, or `Rates` (one per optimized row). Raises RuntimeError naming the step and layer if the objective or the image stops being finite.
    drop_rows=False runs every row to the deepest layer (for measuring what dropping saves). streams: how
    many groups of rows to optimize in parallel threads (default: `default_streams`); only a `Param` splits.
    """
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
    run = split(model, objective, param, n_orig, n_rows, default_streams(device) if streams is None else streams)
    draws = [transforms.draw() for _ in range(steps)]  # one per step, the same for every row and original
    descend = partial(_descend, model, objective, transforms=transforms, draws=draws, originals=originals,
                      n_orig=n_orig, lr=lr, snapshots=snapshots, precision=precision, drop_rows=drop_rows)
    start = time.perf_counter()
    if len(run) == 1:
        results = [descend(run[0], progress)]
    else:
        results = run_streams(descend, run, model, objective, n_orig, steps, progress)
    images, snaps, history = join(run, results, params, steps, len(objective.terms))
    return Render(images, snaps, history, [t.name for _, t in objective.terms], time.perf_counter() - start,
                  precision, len(run))


def _descend(model: Model, objective: Objective, stream: Stream, progress: Progress | None,
             stop: threading.Event | None = None, shared: SharedOriginals | None = None, *,
             transforms: RandomTransform | Identity, draws: list, originals: torch.Tensor | None, n_orig: int,
             lr: float | Rates, snapshots: Sequence[int], precision: str, drop_rows: bool) -> Render:
    """Adam on one stream's rows through the given transform draws; images and history in stream order.

    stop: an Event set when another stream failed. shared: where the streams of one run share the
    originals' activations (None: this stream computes them).
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
    layout = torch.channels_last if model.meta["prepared"]["channels_last"] else torch.contiguous_format
    opt = adam(params, lr, stream.rows)
    snaps, history, cached = {}, [], None

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
                raise Stopped()
            opt.zero_grad(set_to_none=True)
            img = image_fn()
            acts = {name: Rows(name) for name in objective.layers}
            if plan.original_layers:  # the originals, through this step's draw (no draw: computed once)
                if draw is not None and shared is not None:
                    cached = shared.get(step, partial(forward_originals, draw))
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
            # Its sum is NaN or ±inf when a pixel is (one reduction, not four passes of isfinite + all).
            if not (torch.isfinite(total) and torch.isfinite(img.detach().sum())):
                _check_image(img.detach(), step, plan, stream.rows)
                _check_values(values, objective, step)
                if not torch.isfinite(total):
                    raise RuntimeError(f"step {step}: objective {objective.name} is {total.item()}")
            (-total).backward()
            opt.step()
            history.append(torch.stack([v.detach().float() for v in values]))
            if step in snapshots:
                with torch.no_grad():
                    snaps[step] = to_numpy(image_fn())
            if progress is not None:
                progress(step, len(draws), float(total.detach()))
        with torch.no_grad():
            final = image_fn()
        _check_image(final, len(draws), plan, stream.rows)
    finally:
        runner.close()
    return Render(to_numpy(final), snaps, torch.stack(history).cpu().numpy(),
                  [t.name for _, t in objective.terms], time.perf_counter() - start, precision)


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
