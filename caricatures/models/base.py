"""The model contract: a network split into sequential stages plus a table of named, hookable layers.

A `Model` maps an image batch in [0, 1] (N, 3, H, W) to activations. Its network is a list of stages run
one after another; each `Layer` is the output of one stage, or (when `module` is set) the output of a
submodule inside that stage, captured with a forward hook (e.g. a residual block's branch before the skip
is added). Running only the stages up to the deepest requested layer is what makes caricatures cheap.
The built-in zoo splits its networks into many stages; any other `nn.Module` is one stage
(models/adapter.py), which the forward pass leaves right after its deepest requested layer.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
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
    shape: tuple[int, ...] | None = None  # one image's activation shape at the model's input size, where the
                                          # stride does not give it (an adapted module's layers: any shape)


def unknown_layer(name: str, model: Model) -> str:
    """The message for a layer name the model lacks: the closest names, and all of them when few."""
    names = list(model.layers)
    close = difflib.get_close_matches(str(name), names, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if len(names) <= 40:
        return f"unknown layer {name!r} for {model.name}{hint} (valid: {', '.join(names)})"
    return f"unknown layer {name!r} for {model.name}{hint} ({len(names)} layers: `caricatures layers` lists them)"


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
        """Return the named layer, or raise KeyError naming the closest valid names."""
        try:
            return self.layers[name]
        except KeyError:
            raise KeyError(unknown_layer(name, self)) from None

    def shape(self, name: str, size: int | None = None) -> tuple[int, ...]:
        """Return one image's activation shape at the named layer, (C, H, W) or (classes,) for logits."""
        lay = self.layer(name)
        if lay.shape is not None:
            if size not in (None, self.input_size):
                return tuple(self.activations(torch.zeros(1, 3, size, size), [name])[name].shape[1:])
            return lay.shape
        if lay.kind == "logits":
            return (lay.channels,)
        side = math.ceil((size or self.input_size) / lay.stride)  # "SAME"-style padding: ceil at every stride
        return (lay.channels, side, side)

    def label(self, name: str, size: int | None = None) -> str:
        """Return the layer's title for images of side `size`, e.g. "block 3 · 40 ch · 16×16" at 128 px."""
        title, shape = self.layer(name).title, self.shape(name, size)
        if len(shape) != 3:
            return title
        return f"{title.split(' · ')[0]} · {shape[0]} ch · {shape[1]}×{shape[2]}"

    def run(self, images: torch.Tensor, last: int | None = None, alive: Sequence[int] | None = None,
            after: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
        """The forward pass: preprocess images in [0, 1], then run stages 0…last (default: all); before stage
        i keep only the last alive[i] rows; call after(i, output) once stage i has run."""
        x = self.preprocess(images)
        for i in range(len(self.stages) if last is None else last + 1):
            if alive is not None and alive[i] < x.shape[0]:
                x = x[x.shape[0] - alive[i]:]
            x = self.stages[i](x)
            if after is not None:
                after(i, x)
        return x

    def activations(self, images: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
        """Run images in [0, 1] only as deep as the deepest named layer; return those activations."""
        from caricatures.forward import Runner  # forward builds on this module
        runner = Runner(self, names)
        try:
            return runner(images, names)
        finally:
            runner.close()
