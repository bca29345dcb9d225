"""The optimization loop: `optimize` runs Adam on a parametrized batch to maximize an objective.

The logical batch is `[original(s), images…]`: originals are fixed photos that go through the same random
transform as the optimized images each step (under no_grad), so objectives can compare against them.
From the objective's terms the engine works out how deep each row must go: the forward pass stops at the
deepest layer needed and an optimized row leaves the batch once its last layer is passed (rows are run
shallowest-first so that dropping is a slice off the front; layers listed shallow to deep need no reordering). It returns arrays; no display, no file I/O.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from generate.models.base import Model
from generate.objectives import Objective, Rows
from generate.param import ImageFn
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


@dataclass
class Plan:
    """How deep each row goes: stage counts, run order and the layers each part of the batch must produce."""
    order: list[int]           # optimized rows, shallowest first (position → row)
    alive: list[int]           # how many rows of `order` (the last ones) enter stage i
    row_layer: list[str | None]  # each optimized row's deepest layer (None: unused)
    layers: list[str]          # layers the optimized rows must produce
    original_layers: list[str]


def plan_batch(model: Model, objective: Objective, n_originals: int, n_rows: int) -> Plan:
    """Work out truncation and row dropping from the rows and layers each objective term reads."""
    stage = {name: model.layer(name).stage for name in objective.layers}
    depth, row_layer = [-1] * n_rows, [None] * n_rows
    layers: dict[str, None] = {}
    original_layers: dict[str, None] = {}
    for _, term in objective.terms:
        rows = range(n_originals + n_rows) if term.rows is None else term.rows
        for r in rows:
            if not 0 <= r < n_originals + n_rows:
                raise ValueError(f"objective {term.name} reads row {r}, but the batch has "
                                 f"{n_originals} original(s) and {n_rows} optimized row(s)")
            if r < n_originals:
                original_layers[term.layer] = None
                continue
            layers[term.layer] = None
            if stage[term.layer] > depth[r - n_originals]:
                depth[r - n_originals], row_layer[r - n_originals] = stage[term.layer], term.layer
    order = sorted(range(n_rows), key=lambda r: depth[r])
    alive = [sum(d >= i for d in depth) for i in range(max(depth, default=-1) + 1)]
    return Plan(order, alive, row_layer, list(layers), list(original_layers))


class Runner:
    """Run a prepared model's stages on a batch, truncated and dropping rows, collecting named layers."""

    def __init__(self, model: Model, layers: Sequence[str]):
        self.model, self.sink = model, {}
        self.handles = []
        for name in dict.fromkeys(layers):
            lay = model.layer(name)
            if lay.module is not None:
                sub = model.stages[lay.stage].get_submodule(lay.module)
                self.handles.append(sub.register_forward_hook(
                    lambda _m, _i, out, n=name: self.sink.__setitem__(n, out)))

    def __call__(self, x: torch.Tensor, layers: Sequence[str], alive: Sequence[int] | None = None
                 ) -> dict[str, torch.Tensor]:
        """Return the activations `layers` of x; before stage i, keep only the last alive[i] rows."""
        wanted = [self.model.layer(n) for n in layers]
        last = max(lay.stage for lay in wanted)
        self.sink.clear()
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


def _check_image(img: torch.Tensor, step: int, plan: Plan) -> None:
    bad = (~torch.isfinite(img).flatten(1).all(1)).nonzero().flatten().tolist()
    if bad:
        raise RuntimeError(f"step {step}: image row {bad[0]} (layer {plan.row_layer[bad[0]]}) has non-finite "
                           "pixels; lower the learning rate or check the objective")


def _check_values(values: list[torch.Tensor], objective: Objective, step: int) -> None:
    for v, (_, term) in zip(values, objective.terms):
        if not torch.isfinite(v):
            raise RuntimeError(f"step {step}: objective term {term.name} at layer {term.layer} is "
                               f"{v.item()}; lower the learning rate or check the objective")


def optimize(model: Model, objective: Objective, param: tuple[list[torch.Tensor], ImageFn],
             transforms: RandomTransform | Identity, steps: int, *, originals: torch.Tensor | None = None,
             lr: float = 0.05, snapshots: Sequence[int] = (), precision: str = "auto",
             progress: Progress | None = None, drop_rows: bool = True) -> Render:
    """Maximize `objective` over the parametrized images with Adam for `steps` steps.

    param: `(params, image_fn)`; its device is the run's device. originals: (P, 3, H, W) in [0, 1], rows
    0…P−1 of the logical batch. precision: "fp32", "bf16" or "auto" (bf16 where the hardware has it).
    Raises RuntimeError naming the step and layer if the objective or the image stops being finite.
    drop_rows=False runs every row to the deepest layer (for measuring what dropping saves).
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
    with torch.no_grad():
        n_rows = image_fn().shape[0]
    plan = plan_batch(model, objective, n_orig, n_rows)
    if originals is not None:
        originals = originals.to(device, torch.float32)
    order = None if plan.order == sorted(plan.order) else torch.tensor(plan.order, device=device)
    runner = Runner(model, plan.layers + plan.original_layers)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    channels_last = model.meta["prepared"]["channels_last"]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    opt = torch.optim.Adam(params, lr=lr, fused=True)
    snaps, history, cached = {}, [], None
    start = time.perf_counter()
    try:
        if 0 in snapshots:
            with torch.no_grad():
                snaps[0] = to_numpy(image_fn())
        for step in range(1, steps + 1):
            opt.zero_grad(set_to_none=True)
            img = image_fn()
            draw = transforms.draw()
            acts = {name: Rows(name) for name in objective.layers}
            if plan.original_layers:
                if cached is None or draw is not None:
                    with torch.no_grad(), autocast:
                        x = transforms(originals, draw).contiguous(memory_format=layout)
                        cached = runner(x, plan.original_layers)
                for name, t in cached.items():
                    acts[name].add(t, {i: i for i in range(n_orig)})
            if plan.layers:
                x = transforms(img if order is None else img.index_select(0, order), draw)
                x = x.contiguous(memory_format=layout)
                with autocast:
                    out = runner(x, plan.layers, plan.alive if drop_rows else None)
                for name, t in out.items():
                    first = n_rows - t.shape[0]
                    acts[name].add(t, {n_orig + plan.order[first + k]: k for k in range(t.shape[0])})
            values = objective.values(acts)
            total = torch.stack([v.float() for v in values]).sum()
            # The image is checked too: a fused conv → ReLU6 maps NaN to 0, so NaN pixels need not reach total.
            if not (torch.isfinite(total) and torch.isfinite(img).all()):
                _check_image(img.detach(), step, plan)
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
        _check_image(final, steps, plan)
    finally:
        runner.close()
    return Render(to_numpy(final), snaps, torch.stack(history).cpu().numpy(),
                  [t.name for _, t in objective.terms], time.perf_counter() - start, precision)
