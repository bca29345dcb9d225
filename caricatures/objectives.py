"""Objectives: small callables of a dict of activations, with a `name`, combined with +, − and scalar *.

Objectives are always maximized. `acts[layer]` is indexed by position in the logical batch
`[original(s), caricatures…]` (a tensor, or the engine's `Rows` when some rows were dropped early); a term
with `batch=None` reads every row. Each term records the layer and rows it reads so the engine can stop
the forward pass at the deepest layer needed and drop a row once its layers are passed.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

Acts = Mapping[str, torch.Tensor]


class Rows:
    """One layer's activations for the rows of the logical batch that reached it: `rows[i]` is row i."""

    def __init__(self, layer: str):
        self.layer = layer
        self.parts: list[tuple[torch.Tensor, dict[int, int]]] = []

    def add(self, tensor: torch.Tensor, index: dict[int, int]) -> None:
        """Add a block of rows; `index` maps logical row → position in `tensor`."""
        self.parts.append((tensor, index))

    def __getitem__(self, i: int) -> torch.Tensor:
        for tensor, index in self.parts:
            if i in index:
                return tensor[index[i]]
        raise KeyError(f"row {i} was not computed at layer {self.layer!r}")

    def full(self) -> torch.Tensor:
        """Return every computed row stacked in logical order."""
        pairs = sorted((i, t, k) for t, index in self.parts for i, k in index.items())
        return torch.stack([t[k] for _, t, k in pairs])


@dataclass(frozen=True)
class Term:
    """One objective term: `fn(acts)` is a scalar; it reads `layer` at `rows` (None = every row)."""
    fn: Callable[[Acts], torch.Tensor]
    name: str
    layer: str
    rows: tuple[int, ...] | None


class Objective:
    """A weighted sum of terms; calling it returns the scalar to maximize."""

    def __init__(self, terms: list[tuple[float, Term]], name: str | None = None):
        self.terms = terms
        self.name = name or " + ".join(t.name if c == 1 else f"{c:g}·{t.name}" for c, t in terms)

    def __call__(self, acts: Acts) -> torch.Tensor:
        return sum(c * t.fn(acts) for c, t in self.terms)

    def values(self, acts: Acts) -> list[torch.Tensor]:
        """Return each weighted term's scalar, in order (their sum is the objective)."""
        return [c * t.fn(acts) for c, t in self.terms]

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(t.layer for _, t in self.terms))

    def __add__(self, other: Objective) -> Objective:
        return Objective(self.terms + other.terms, f"{self.name} + {other.name}")

    def __sub__(self, other: Objective) -> Objective:
        return self + (-1.0) * other

    def __mul__(self, k: float) -> Objective:
        return Objective([(k * c, t) for c, t in self.terms], f"{k:g}·({self.name})")

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return -1.0 * self

    def __repr__(self) -> str:
        return f"Objective({self.name})"


def objective(fn: Callable[[Acts], torch.Tensor], name: str, layer: str,
              rows: tuple[int, ...] | None = None) -> Objective:
    """Wrap a scalar function of the activations as a one-term objective."""
    return Objective([(1.0, Term(fn, name, layer, rows))])


def _rows(a: torch.Tensor | Rows, batch: int | None) -> torch.Tensor:
    if batch is not None:
        return a[batch][None]
    return a.full() if isinstance(a, Rows) else a


def _dot_compare(opt: torch.Tensor, orig: torch.Tensor, cossim_pow: float) -> torch.Tensor:
    dot = (opt * orig).sum()
    if cossim_pow == 0:
        return dot
    cossim = torch.clamp(dot / (1e-6 + opt.norm()), min=0.1)
    return dot * cossim ** cossim_pow


def dot_compare(layer: str, batch: int = 1, original: int = 0, cossim_pow: float = 0.0) -> Objective:
    """lucid's caricature objective: dot·max(0.1, dot/(1e-6+‖A_opt‖))^cossim_pow, dot over H×W×C."""
    def fn(acts: Acts) -> torch.Tensor:
        opt, orig = acts[layer][batch].float(), acts[layer][original].float().detach()
        return _dot_compare(opt, orig, cossim_pow)
    return objective(fn, f"dot_compare({layer}, {batch}, pow={cossim_pow:g})", layer, (batch, original))


def dot_cossim(layer: str, batch: int = 1, original: int = 0, cossim_pow: float = 2.0) -> Objective:
    """Xplique's and Horama's caricature objective: dot·max(0.1, cos)^cossim_pow with the TRUE cosine,
    cos = dot/(‖A_opt‖·‖A_photo‖) (lucid's divides by ‖A_opt‖ only), dot over H×W×C."""
    def fn(acts: Acts) -> torch.Tensor:
        opt, orig = acts[layer][batch].float(), acts[layer][original].float().detach()
        dot = (opt * orig).sum()
        cos = dot / ((1e-6 + opt.norm()) * (1e-6 + orig.norm()))
        return dot * torch.clamp(cos, min=0.1) ** cossim_pow
    return objective(fn, f"dot_cossim({layer}, {batch}, pow={cossim_pow:g})", layer, (batch, original))


def energy(layer: str, batch: int = 1, original: int = 0) -> Objective:
    """DeepDream's objective, ‖A‖² of the image's activation at the layer. It never reads the photo: made with
    the caricature recipe it gives a photo-free image, what the layer likes in any image (a baseline)."""
    def fn(acts: Acts) -> torch.Tensor:
        return acts[layer][batch].float().pow(2).sum()
    return objective(fn, f"energy({layer}, {batch})", layer, (batch,))


def signed_pow(x: torch.Tensor, power: float) -> torch.Tensor:
    """sign(x)·|x|^power: x^power for x ≥ 0, extended oddly so a fractional power stays finite (and increasing)
    for a negative x."""
    return torch.sign(x) * x.abs() ** power


def dot_power(layer: str, batch: int = 1, original: int = 0, power: float = 1.0) -> Objective:
    """torch-dreams' caricature loss, maximized: max(0.1, dot/‖A_photo‖)·dot^power, the exponent on the dot
    product (not on a cosine); dot^power is `signed_pow` so that a fractional power of a negative dot (from a
    noise start) stays finite. A function of dot alone: it pushes the image the way dot does."""
    def fn(acts: Acts) -> torch.Tensor:
        opt, orig = acts[layer][batch].float(), acts[layer][original].float().detach()
        dot = (opt * orig).sum()
        return torch.clamp(dot / (1e-6 + orig.norm()), min=0.1) * signed_pow(dot, power)
    return objective(fn, f"dot_power({layer}, {batch}, power={power:g})", layer, (batch, original))


def orthogonal_penalty(layer: str, batch: int = 1, original: int = 0, weight: float = 1.0) -> Objective:
    """The variant of lucid issue #116: dot − weight·‖A_⊥‖², where A_⊥ = A_opt − (dot/‖A_photo‖²)·A_photo is the
    part of the caricature's activation orthogonal to the photo's. Both terms are in activation units squared:
    with weight 1 the penalty cancels the dot at gain 1 and 45° from the photo's direction."""
    def fn(acts: Acts) -> torch.Tensor:
        opt, orig = acts[layer][batch].float(), acts[layer][original].float().detach()
        dot = (opt * orig).sum()
        perp = opt - dot / (1e-12 + (orig * orig).sum()) * orig
        return dot - weight * (perp * perp).sum()
    return objective(fn, f"orthogonal_penalty({layer}, {batch}, weight={weight:g})", layer, (batch, original))


def accentuation(layer: str, batch: int = 1, original: int = 0, reg_layer: str = "block0",
                 weight: float = 1.0) -> Objective:
    """Feature accentuation's objective (start the image at the photo): dot·cos with the true cosine, no floor,
    power 1, minus a pull toward the photo at `reg_layer`. Each term is divided by the photo's squared norm at
    its layer, so they are comparable whatever the layers' scales:
        dot·cos/‖A_photo‖²  −  weight·‖R_opt − R_photo‖²/‖R_photo‖²      (A at `layer`, R at `reg_layer`)
    the first is gain × cosine, the second the squared relative distance to the photo at `reg_layer`. (dot·cos
    = dot²/(‖A_opt‖‖A_photo‖) would reward a reversed activation too; from the photo, where cos = 1, it does not
    get there.)"""
    def accent(acts: Acts) -> torch.Tensor:
        opt, orig = acts[layer][batch].float(), acts[layer][original].float().detach()
        dot, norm2 = (opt * orig).sum(), (orig * orig).sum()
        return dot * dot / ((1e-6 + opt.norm()) * (1e-6 + norm2.sqrt())) / (1e-12 + norm2)

    def pull(acts: Acts) -> torch.Tensor:
        opt, orig = acts[reg_layer][batch].float(), acts[reg_layer][original].float().detach()
        return -weight * ((opt - orig) ** 2).sum() / (1e-12 + (orig * orig).sum())
    return (objective(accent, f"accent({layer}, {batch})", layer, (batch, original))
            + objective(pull, f"pull({reg_layer}, {batch}, weight={weight:g})", reg_layer, (batch, original)))


def dot_compare_scaled(layer: str, batch: int = 1, original: int = 0, cossim_pow: float = 0.0) -> Objective:
    """dot_compare of the activations divided by n = ‖A_photo‖ (held constant): scale-invariant.

    With d = ⟨A_opt, A_photo⟩ over H×W×C it is (d/n²)·max(0.1, d/(n²·(1e-6 + ‖A_opt‖/n)))^cossim_pow: for
    cossim_pow = 0 it is d/‖A_photo‖², and lucid's cossim becomes the true cosine d/(n·‖A_opt‖) (up to the
    1e-6). Multiplying every activation by s leaves it (and its gradient with
    respect to the image) unchanged, so a network whose activations are tiny (random weights deep down) gets
    the Adam steps of one whose activations are of order 1, instead of steps that Adam's ε (1e-8) swamps.
    For a given network it is dot_compare times a positive number per step (n is the photo's activation
    under that step's transform), so with cossim_pow = 0 Adam's steps are dot_compare's up to ε and the
    small changes of n from one transform to the next.
    """
    def fn(acts: Acts) -> torch.Tensor:
        opt, orig = acts[layer][batch].float(), acts[layer][original].float().detach()
        n = orig.norm().clamp_min(torch.finfo(torch.float32).tiny)
        return _dot_compare(opt / n, orig / n, cossim_pow)
    return objective(fn, f"dot_compare_scaled({layer}, {batch}, pow={cossim_pow:g})", layer, (batch, original))


def channel(layer: str, channel: int, batch: int | None = None) -> Objective:
    """Mean activation of one channel over positions (and over the batch when batch is None)."""
    return objective(lambda acts: _rows(acts[layer], batch)[:, channel].float().mean(),
                     f"channel({layer}, {channel})", layer, None if batch is None else (batch,))


def neuron(layer: str, channel: int, x: int | None = None, y: int | None = None,
           batch: int | None = None) -> Objective:
    """Activation of one channel at one position (column x, row y; the centre by default)."""
    def fn(acts: Acts) -> torch.Tensor:
        a = _rows(acts[layer], batch)
        h, w = a.shape[-2:]
        return a[:, channel, h // 2 if y is None else y, w // 2 if x is None else x].float().mean()
    return objective(fn, f"neuron({layer}, {channel})", layer, None if batch is None else (batch,))


def direction(layer: str, vec: torch.Tensor, batch: int | None = None, cossim_pow: float = 0.0) -> Objective:
    """Mean over positions of ⟨A_xy, vec⟩ (times max(0.1, cos)^cossim_pow, as lucid's direction)."""
    def fn(acts: Acts) -> torch.Tensor:
        a = _rows(acts[layer], batch).float()
        v = vec.to(a.device, a.dtype).view(1, -1, 1, 1)
        dot = (a * v).sum(1)
        if cossim_pow == 0:
            return dot.mean()
        cos = dot / (1e-4 + a.norm(dim=1)) / (1e-4 + v.norm())
        return (dot * torch.clamp(cos, min=0.1) ** cossim_pow).mean()
    return objective(fn, f"direction({layer})", layer, None if batch is None else (batch,))


def attribution_dot(layer: str, attr: torch.Tensor, batch: int = 1, original: int = 0,
                    cossim_pow: float = 0.0) -> Objective:
    """Σ A_opt·attr over H×W×C, with attr (C, H, W) held constant: lucid's attribution caricature.

    cossim_pow > 0 multiplies it by max(0.1, cos(A_opt, A_photo))^cossim_pow, with the true cosine to the
    photo's own activation at the layer (row `original`, under the same transform): attr is a first-order
    account of the photo's logit around A_photo, and the factor keeps the caricature's activation pointing
    the photo's way, where that account holds.
    """
    def fn(acts: Acts) -> torch.Tensor:
        a = acts[layer][batch].float()
        dot = (a * attr.to(a.device, a.dtype)).sum()
        if cossim_pow == 0:
            return dot
        photo = acts[layer][original].float().detach()
        cos = (a * photo).sum() / (a.norm() * photo.norm()).clamp_min(torch.finfo(torch.float32).tiny)
        return dot * torch.clamp(cos, min=0.1) ** cossim_pow
    if cossim_pow == 0:
        return objective(fn, f"attribution_dot({layer}, {batch})", layer, (batch,))
    return objective(fn, f"attribution_dot({layer}, {batch}, cos_pow={cossim_pow:g})", layer, (batch, original))


ACCENT_WEIGHT = 1.0   # λ of attribution_accent: the unconstrained optimum lies ‖A_photo‖/(2λ) from A_photo


def attribution_accent(layer: str, attr: torch.Tensor, batch: int = 1, original: int = 0,
                       cossim_pow: float = 0.0, weight: float = ACCENT_WEIGHT) -> Objective:
    """Σ A_opt·attr − λ·‖attr‖·‖A_opt − A_photo‖²/‖A_photo‖: the attribution caricature with feature
    accentuation's regularizer toward the photo's activation at the layer (row `original`, same transform).

    The penalty is scaled so that λ has no units: the quadratic's maximum over A_opt is
    A_photo + attr·‖A_photo‖/(2λ‖attr‖), at a distance ‖A_photo‖/(2λ) from the photo's activation. Only the
    regularizer: the image still starts from noise (no cosine power: cossim_pow must be 0).
    """
    if cossim_pow != 0:
        raise ValueError(f"attribution_accent takes no cosine power (got {cossim_pow:g}); use attribution_dot")
    if weight <= 0:
        raise ValueError(f"attribution_accent: weight must be positive, got {weight:g}")

    def fn(acts: Acts) -> torch.Tensor:
        a = acts[layer][batch].float()
        w = attr.to(a.device, a.dtype)
        photo = acts[layer][original].float().detach()
        scale = w.norm() / photo.norm().clamp_min(torch.finfo(torch.float32).tiny)
        return (a * w).sum() - weight * scale * (a - photo).pow(2).sum()
    return objective(fn, f"attribution_accent({layer}, {batch}, λ={weight:g})", layer, (batch, original))


# The attribution objectives a run may name (run setting "objective" with "attribution"); the first is the default.
ATTRIBUTION_OBJECTIVES = {"attribution_dot": attribution_dot, "attribution_accent": attribution_accent}


# Caricature objectives by name, as runs name them: each takes (layer, row, original_row, cossim_pow, **args).
def _uses_no_cossim_pow(factory: Callable[..., Objective]) -> Callable[..., Objective]:
    def made(layer: str, batch: int, original: int, cossim_pow: float = 0.0, **args) -> Objective:
        if cossim_pow:
            raise ValueError(f"objective {factory.__name__} takes no cossim_pow (got {cossim_pow}); "
                             "leave cossim_pow at 0")
        return factory(layer, batch, original, **args)
    made.__name__ = factory.__name__
    return made


CARICATURE_OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "dot_compare": dot_compare, "dot_compare_scaled": dot_compare_scaled, "dot_cossim": dot_cossim,
    "dot_power": _uses_no_cossim_pow(dot_power),
    "orthogonal_penalty": _uses_no_cossim_pow(orthogonal_penalty),
    "accentuation": _uses_no_cossim_pow(accentuation), "energy": _uses_no_cossim_pow(energy)}


def caricature_objective(name: str, **args) -> Callable[[str, int, int, float], Objective]:
    """Return the factory `(layer, row, original_row, cossim_pow) → Objective` of a named caricature objective
    with its extra arguments bound (e.g. weight=1.0); its `__name__` is the name."""
    if name not in CARICATURE_OBJECTIVES:
        raise ValueError(f"unknown caricature objective {name!r}; valid: {', '.join(CARICATURE_OBJECTIVES)}")
    base = CARICATURE_OBJECTIVES[name]
    if not args:
        return base
    try:
        base("layer", 1, 0, 0.0, **args)   # building an objective reads no activations: this checks the args
    except TypeError as e:
        raise ValueError(f"caricature objective {name!r}: bad arguments {args} ({e})") from None

    def factory(layer: str, batch: int, original: int, cossim_pow: float = 0.0) -> Objective:
        return base(layer, batch, original, cossim_pow, **args)
    factory.__name__ = name
    return factory
