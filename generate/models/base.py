"""The model contract: a network split into sequential stages plus a table of named, hookable layers.

A `Model` maps an image batch in [0, 1] (N, 3, H, W) to activations. Its network is a list of stages run
one after another; each `Layer` is the output of one stage, or (when `module` is set) the output of a
submodule inside that stage, captured with a forward hook (e.g. a residual block's branch before the skip
is added). Running only the stages up to the deepest requested layer is what makes caricatures cheap.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class Layer:
    name: str            # short name used on the command line and in figures, e.g. "block3"
    title: str           # human label, e.g. "block 3 · 40 ch · 28×28"
    stage: int           # index into Model.stages whose run produces (or contains) this activation
    kind: str            # "stem", "block", "branch", "head" or "logits"
    channels: int
    stride: int          # total downsampling from the input (1 for logits)
    module: str | None = None  # dotted path inside the stage for a hooked sub-output, None = stage output


@dataclass
class Model:
    name: str
    input_size: int
    stages: nn.ModuleList
    layers: dict[str, Layer]                 # ordered shallow → deep
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    weights: str = "imagenet"                # "imagenet", "random" or "imagenet+reinit:<layers>"
    weights_sha256: str | None = None
    meta: dict = field(default_factory=dict)

    def layer(self, name: str) -> Layer:
        """Return the named layer, or raise KeyError listing the valid names."""
        try:
            return self.layers[name]
        except KeyError:
            raise KeyError(f"unknown layer {name!r} for {self.name}; valid: {', '.join(self.layers)}") from None

    def shape(self, name: str, size: int | None = None) -> tuple[int, ...]:
        """Return one image's activation shape at the named layer, (C, H, W) or (classes,) for logits."""
        lay = self.layer(name)
        if lay.kind == "logits":
            return (lay.channels,)
        side = math.ceil((size or self.input_size) / lay.stride)  # "SAME"-style padding: ceil at every stride
        return (lay.channels, side, side)

    def label(self, name: str, size: int | None = None) -> str:
        """Return the layer's title for images of side `size`, e.g. "block 3 · 40 ch · 16×16" at 128 px."""
        title, shape = self.layer(name).title, self.shape(name, size)
        if len(shape) == 1:
            return title
        return f"{title.split(' · ')[0]} · {shape[0]} ch · {shape[1]}×{shape[2]}"

    def activations(self, images: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
        """Run images in [0, 1] through the stages up to the deepest named layer; return those activations."""
        wanted = [self.layer(n) for n in names]
        out: dict[str, torch.Tensor] = {}
        handles = []
        for lay in wanted:
            if lay.module is not None:
                sub = self.stages[lay.stage].get_submodule(lay.module)
                handles.append(sub.register_forward_hook(
                    lambda _m, _i, o, n=lay.name: out.__setitem__(n, o)))
        try:
            x = self.preprocess(images)
            last = max(lay.stage for lay in wanted)
            for i in range(last + 1):
                x = self.stages[i](x)
                for lay in wanted:
                    if lay.stage == i and lay.module is None:
                        out[lay.name] = x
        finally:
            for h in handles:
                h.remove()
        return out
