"""Optimization recipes: how the loop steps, beyond lucid's constant-rate Adam at the model's size.

A `Recipe` names a schedule that `make_caricatures(recipe=…)` follows; "lucid" is lucid's own (Adam at
the caller's `lr` for every row, every step at full size) and gives exactly the pixels of no recipe. The
others are candidates for reaching lucid's 512-step objective in fewer steps (bench/study_schedule.py):

- per-row rates: each row's rate is `lr` times a multiplier that goes geometrically from `rates[0]` at the
  model's first stage to `rates[1]` at its last, by the depth of the row's layer (rows are independent, and
  shallow layers measured best at higher rates than deep ones);
- coarse-to-fine: the first `coarse` share of the steps optimizes a `shrink`-times smaller image (photo,
  transforms and model input shrunk alike), whose spectrum is then embedded in the full-size one so that
  the image continues as its band-limited upsampling; Adam starts afresh at full size.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from caricatures.models.base import Model
from caricatures.param import Param, fft_image, freq_scale
from caricatures.transforms import PRESETS, TransformSpec

BETAS = (0.9, 0.999)  # torch's and TensorFlow's Adam defaults, which lucid uses


@dataclass(frozen=True)
class Recipe:
    """A schedule: rate multipliers at the first and last stage, coarse share of the steps and its scale."""
    rates: tuple[float, float] = (1.0, 1.0)
    coarse: float = 0.0
    shrink: float = 0.5
    betas: tuple[float, float] = BETAS


RECIPES = {
    "lucid": Recipe(),
    "lr2": Recipe(rates=(2.0, 2.0)),                          # constant 0.1: the best constant rate measured
    "rows": Recipe(rates=(8.0, 1.0)),                         # 0.4 at the stem … 0.05 at the head
    "rows-mid": Recipe(rates=(4.0, 1.5)),                     # 0.2 … 0.075
    "rows-wide": Recipe(rates=(8.0, 0.6)),                    # 0.4 … 0.03
    "rows-b1": Recipe(rates=(8.0, 1.0), betas=(0.95, 0.999)),  # more momentum against the transforms' noise
    "rows-b2": Recipe(rates=(8.0, 1.0), betas=(0.9, 0.99)),    # second moment of the last ~100 steps only
    "rows-hot": Recipe(rates=(8.0, 2.0), betas=(0.95, 0.999)),  # deep rows at 0.1, with momentum
    "hot": Recipe(rates=(4.0, 4.0), betas=(0.98, 0.999)),       # 0.2 everywhere, momentum over ~50 steps
    "coarse": Recipe(rates=(2.0, 2.0), coarse=0.25),
    "coarse-rows": Recipe(rates=(8.0, 1.0), coarse=0.25),
}


@dataclass(frozen=True)
class Rates:
    """Adam with a learning rate per optimized row (the loop's `lr` when it is not one float)."""
    rows: torch.Tensor          # (N,) one rate per optimized row
    betas: tuple[float, float] = BETAS


def recipe(name: str) -> Recipe:
    """Return the recipe called `name`."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def row_rates(rec: Recipe, model: Model, row_layers: Sequence[str], lr: float) -> float | Rates:
    """Return the loop's `lr`: one float where every row has the same rate and default betas, else `Rates`."""
    if rec.rates[0] == rec.rates[1] and rec.betas == BETAS:
        return lr * rec.rates[0]
    last = max(lay.stage for lay in model.layers.values())
    depth = torch.tensor([model.layer(name).stage / last for name in row_layers], dtype=torch.float64)
    return Rates((lr * rec.rates[0] ** (1 - depth) * rec.rates[1] ** depth).float(), rec.betas)


def adam(params: list[torch.Tensor], lr: float | Rates, rows: Sequence[int]):
    """Return the optimizer of one stream's rows: torch's Adam for one rate, `RowAdam` for a rate per row."""
    if isinstance(lr, Rates):
        return RowAdam(params, lr.rows[list(rows)], lr.betas)
    return torch.optim.Adam(params, lr=lr, fused=True)


class RowAdam:
    """Adam (torch's formula, eps 1e-8) whose step for batch row i is scaled by its own rate rates[i]."""

    def __init__(self, params: list[torch.Tensor], rates: torch.Tensor, betas: tuple[float, float] = BETAS,
                 eps: float = 1e-8):
        self.params, self.betas, self.eps, self.t = params, betas, eps, 0
        self.rates = [rates.to(p.device, p.dtype).view(-1, *[1] * (p.dim() - 1)) for p in params]
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        (b1, b2), self.t = self.betas, self.t + 1
        c1, c2 = 1 - b1 ** self.t, (1 - b2 ** self.t) ** 0.5
        for p, m, v, r in zip(self.params, self.m, self.v, self.rates):
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p.sub_(r / c1 * m / (v.sqrt() / c2 + self.eps))


def coarse_plan(rec: Recipe, steps: int, size: int) -> tuple[int, int]:
    """Return (steps at the coarse size, coarse size); (0, size) when the recipe has no coarse phase."""
    k, small = round(rec.coarse * steps), round(rec.shrink * size)
    return (k, small) if 0 < k < steps and 8 <= small < size else (0, size)


def shrink_transforms(transforms: str | TransformSpec | None, ratio: float) -> TransformSpec | None:
    """Return the transforms with pad and jitters in pixels scaled by `ratio` (scales and angles kept)."""
    spec = PRESETS.get(transforms, transforms) if isinstance(transforms, str) else transforms
    if spec is None or spec == "none":
        return None
    return dataclasses.replace(spec, pad=round(spec.pad * ratio), jitter=max(1, round(spec.jitter * ratio)),
                               jitter2=max(1, round(spec.jitter2 * ratio)))


def embed_spectrum(small: Param, size: int) -> Param:
    """Return an FFT Param of `size` whose images are the band-limited upsampling of `small`'s images.

    `small`: an FFT Param of the default decay (square images). Its signal's spectrum goes to the same
    integer frequencies of the larger grid, Nyquist bins split in halves between ±f (so the result is real
    and exact at the common samples), scaled for the orthonormal FFT and divided by the new frequency scale.
    """
    spec = small.tensors[0].detach()
    b, c, h = spec.shape[:3]
    w = h  # square images (the last axis holds w//2 + 1 bins, which leaves w's parity open)
    scale_small = freq_scale(h, w).to(spec.device)
    signal = torch.fft.irfft2(torch.view_as_complex(spec.contiguous()) * scale_small, s=(h, w), norm="ortho")
    x = torch.fft.rfft2(signal, norm="ortho")  # canonical (Hermitian-consistent) spectrum of the same signal
    out = torch.zeros(b, c, size, size // 2 + 1, dtype=x.dtype, device=x.device)
    lo = (h + 1) // 2  # rows 0…lo-1 hold f ≥ 0, the rest f < 0
    cols = w // 2 + 1
    out[:, :, :lo, :cols] = x[:, :, :lo]
    out[:, :, size - (h - lo):, :cols] = x[:, :, lo:]
    if h % 2 == 0:  # the Nyquist row f = -h/2 also stands for +h/2: half to each
        out[:, :, size - h // 2, :cols] /= 2
        out[:, :, h // 2, :cols] = out[:, :, size - h // 2, :cols]
    if w % 2 == 0:  # the Nyquist column: the larger grid adds its mirror image -w/2 itself
        out[..., w // 2] /= 2
    out = out * (size / h) / freq_scale(size, size).to(out.device)
    big = fft_image(size, b, device=spec.device)
    return Param([torch.view_as_real(out).float().contiguous().requires_grad_(True)], big.render)
