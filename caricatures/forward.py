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

from caricatures.models.base import Layer, Model
from caricatures.objectives import Objective


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


class _Stop(Exception):
    """Raised by the hook of a stage's deepest wanted layer: nothing after it in that stage needs to run."""


class Runner:
    """Run a prepared model's stages on a batch, truncated and dropping rows, collecting named layers.

    Within the last stage it needs, the forward pass stops at the hook of the deepest wanted layer (an
    adapted module is one stage: this is what truncates it). Several runners may share a model across
    threads: a hook acts only for its own runner, in its thread, during its call.
    """

    def __init__(self, model: Model, layers: Sequence[str]):
        self.model, self.sink, self.thread, self.stop = model, {}, None, None
        self.order = {name: i for i, name in enumerate(model.layers)}
        self.handles = []
        for name in dict.fromkeys(layers):
            lay = model.layer(name)
            if lay.module is not None:
                sub = model.stages[lay.stage].get_submodule(lay.module)
                self.handles.append(sub.register_forward_hook(lambda _m, _i, out, n=name: self._keep(n, out)))

    def _keep(self, name: str, out: torch.Tensor) -> None:
        if threading.get_ident() == self.thread:
            self.sink[name] = out
            if name == self.stop:
                raise _Stop()

    def _stop_at(self, wanted: list[Layer], last: int) -> str | None:
        """The deepest wanted layer of the last stage, if it is hooked (else the stage runs to its end)."""
        deepest = max((lay for lay in wanted if lay.stage == last), key=lambda lay: self.order[lay.name])
        return deepest.name if deepest.module is not None else None

    def __call__(self, x: torch.Tensor, layers: Sequence[str], alive: Sequence[int] | None = None
                 ) -> dict[str, torch.Tensor]:
        """Return the activations `layers` of x; before stage i, keep only the last alive[i] rows."""
        wanted = [self.model.layer(n) for n in layers]
        last = max(lay.stage for lay in wanted)
        ends: dict[int, list[str]] = {}
        for lay in wanted:
            if lay.module is None:
                ends.setdefault(lay.stage, []).append(lay.name)
        self.sink.clear()
        self.stop = self._stop_at(wanted, last)
        self.thread = threading.get_ident()

        def after(i: int, out: torch.Tensor) -> None:
            for name in ends.get(i, ()):
                self.sink[name] = out
        try:
            self.model.run(x, last, alive, after)
        except _Stop:
            pass
        finally:
            self.thread = None
        return {n: self.sink[n] for n in layers}

    def close(self) -> None:
        for h in self.handles:
            h.remove()
