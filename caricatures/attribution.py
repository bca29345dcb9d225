"""Attribution at a layer: activation × gradient toward a target, held constant and divided by its maximum.

Targets (lucid's attribution caricatures notebook): a class logit, a difference of two logits, or the
energy Σ A² of a later hidden layer. `iterated_attribution` walks listed layers from the top down, the
attribution at each layer becoming the objective Σ A·attr for the layer below. Attributions feed the
caricature objective `objectives.attribution_dot`; `attribution_map` sums them over channels for overlays.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch

from caricatures.forward import Runner
from caricatures.models.base import Model


@dataclass(frozen=True)
class Target:
    """A scalar of one image's activations at `layer` (None: the model's logits layer) to attribute."""
    fn: Callable[[torch.Tensor], torch.Tensor]
    name: str
    layer: str | None = None


def logit(c: int) -> Target:
    """Target the pre-softmax logit of class c."""
    return Target(lambda a: a[..., c].sum(), f"logit {c}")


def logit_diff(a: int, b: int) -> Target:
    """Target logit a minus logit b (what makes it class a rather than b)."""
    return Target(lambda x: (x[..., a] - x[..., b]).sum(), f"logit {a} − logit {b}")


def layer_energy(layer: str) -> Target:
    """Target Σ A² of a hidden layer: what matters to that later layer."""
    return Target(lambda x: (x.float() ** 2).sum(), f"Σ {layer}²", layer)


def logits_layer(model: Model) -> str:
    """Return the name of the model's logits layer."""
    names = [n for n, lay in model.layers.items() if lay.kind == "logits"]
    if not names:
        raise ValueError(f"{model.name} has no logits layer; attribute toward a hidden layer instead")
    return names[-1]


def _normalize(attr: torch.Tensor) -> torch.Tensor:
    # lucid divides by the maximum; if nothing is positive, divide by the largest magnitude instead.
    top = attr.max()
    top = top if top > 0 else attr.abs().max()
    return attr / top if top > 0 else attr


def _order(model: Model, layers: Sequence[str]) -> list[str]:
    index = {n: i for i, n in enumerate(model.layers)}
    for n in layers:
        model.layer(n)
    return sorted(dict.fromkeys(layers), key=index.__getitem__)


def _forward(model: Model, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    if image.dim() == 3:
        image = image[None]
    device = next(model.stages.parameters()).device
    x = image.to(device, torch.float32).requires_grad_(True)  # builds the graph though the weights are frozen
    runner = Runner(model, layers)
    try:
        return runner(x, layers)
    finally:
        runner.close()


def _check_before(model: Model, layers: Sequence[str], top: str) -> None:
    index = list(model.layers)
    for n in layers:
        if index.index(n) > index.index(top):
            raise ValueError(f"layer {n!r} comes after {top!r}: attribution needs a layer at or before "
                             "the target layer")


def attribute(model: Model, image: torch.Tensor, layers: str | Sequence[str], target: Target
              ) -> dict[str, torch.Tensor]:
    """Return {layer: A·∂target/∂A / max} for one image (3, H, W); each value (C, H, W) or (C,), detached."""
    layers = _order(model, [layers] if isinstance(layers, str) else layers)
    top = target.layer or logits_layer(model)
    _check_before(model, layers, top)
    with torch.enable_grad():
        acts = _forward(model, image, [*layers, top])
        grads = torch.autograd.grad(target.fn(acts[top][0]), [acts[n] for n in layers], allow_unused=True)
    out = {}
    for n, g in zip(layers, grads):
        g = torch.zeros_like(acts[n]) if g is None else g
        out[n] = _normalize((acts[n] * g)[0].detach().float())
    return out


def iterated_attribution(model: Model, image: torch.Tensor, layers: Sequence[str],
                         target: Target | None = None) -> dict[str, torch.Tensor]:
    """Attribute down the listed layers: attr_top toward `target` (default Σ A² of the top layer), then
    attr_{k−1} = A_{k−1}·∂(Σ A_k·attr_k)/∂A_{k−1} with attr_k held constant, each divided by its max."""
    layers = _order(model, layers)[::-1]
    top = layers[0]
    first = attribute(model, image, top, target or layer_energy(top))[top]
    out = {top: first}
    with torch.enable_grad():
        acts = _forward(model, image, layers)
        for upper, lower in pairwise(layers):
            obj = (acts[upper][0].float() * out[upper]).sum()
            (g,) = torch.autograd.grad(obj, [acts[lower]], retain_graph=True, allow_unused=True)
            g = torch.zeros_like(acts[lower]) if g is None else g
            out[lower] = _normalize((acts[lower] * g)[0].detach().float())
    return out


def attribution_map(attr: torch.Tensor, signed: bool = False) -> torch.Tensor:
    """Sum an attribution (C, H, W) over channels to (H, W), scaled so the largest magnitude is 1.

    signed=False returns the magnitude |Σ_c attr|, for overlays; signed=True keeps the sign.
    """
    m = attr.sum(0)
    m = m if signed else m.abs()
    top = m.abs().max()
    return m / top if top > 0 else m
