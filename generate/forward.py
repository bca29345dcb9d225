"""The truncated forward pass: how deep each row of the logical batch goes, and a runner that stops there.

From the objective's terms `plan_batch` works out how deep each row must go: the forward pass stops at the
deepest layer needed and an optimized row leaves the batch once its last layer is passed (rows are run
shallowest-first so that dropping is a slice off the front; layers listed shallow to deep need no
reordering).
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from generate.models.base import Model
from generate.objectives import Objective


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
