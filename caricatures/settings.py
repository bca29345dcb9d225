"""A caricature optimization's settings: one frozen dataclass, validated once, when it is made.

    settings = Settings(steps=128, objective="orthogonal_penalty", objective_args={"weight": 2.0})
    make_caricatures(model, photos, layers, settings)

`make_caricatures` takes a `Settings` (or its fields as keyword arguments) and the loop trusts it; a caricature
run (sitegen/runs/run.py) builds one from its settings when it is made, so a bad run fails there with the same
message. Model, photos, layers and where the run is computed (device, precision, packing) are not settings.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from caricatures import objectives, schedule
from caricatures.attribution import Target
from caricatures.param import PARAMS
from caricatures.transforms import PRESETS, TransformSpec

# (layer, row, original_row, cossim_pow) → the objective of one caricature: row's activations at layer against
# the photo's at original_row, as lucid's dot_compare.
ObjectiveFactory = Callable[[str, int, int, float], objectives.Objective]
# (layer, attr, row, original_row, cossim_pow) → the objective of one attribution caricature (attribution_dot).
AttributionFactory = Callable[[str, torch.Tensor, int, int, float], objectives.Objective]

INITS = ("noise", "photo")
MIN_SIZE, MAX_SIZE = 32, 1024
DEFAULT_OBJECTIVE, DEFAULT_ATTRIBUTION_OBJECTIVE = "dot_compare", "attribution_dot"


def check_steps(steps: int) -> None:
    """Raise ValueError unless `steps` is a positive int (every optimization's one rule for it)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")


@dataclass(frozen=True)
class Settings:
    """How a caricature is optimized; each field is checked here and nowhere else.

    size: the side in pixels (None: the model's input size). transforms: a preset name of
    `transforms.PRESETS`, "none" or None (no transforms), or a `TransformSpec`.
    objective: each caricature's objective, a name of `objectives.CARICATURE_OBJECTIVES` (with
    `objective_args`) or a factory `objective(layer, row, original_row, cossim_pow)`; None is lucid's
    dot_compare. attribution: caricature toward a `Target` (objective Σ A·attr) instead; iterate: attribute
    down the requested layers from the deepest (start: `attribution` or its Σ A²); attribution_objective: theirs,
    a name of `objectives.ATTRIBUTION_OBJECTIVES` or a factory `(layer, attr, row, original_row, cossim_pow)`;
    None is attribution_dot. recipe: the schedule, a name in `schedule.RECIPES` ("lucid": Adam at `lr`, full
    size). init: "noise" (the parametrization's seeded random start) or "photo" (each caricature starts as its
    photo; param "fft" or "pixel" only). snapshots: the steps whose images are kept.
    """

    steps: int = 512
    size: int | None = None
    lr: float = 0.05
    seed: int = 0
    cossim_pow: float = 0.0
    param: str = "fft"
    transforms: str | TransformSpec | None = "standard"
    attribution: Target | None = None
    iterate: bool = False
    snapshots: tuple[int, ...] = ()
    recipe: str = "lucid"
    objective: str | ObjectiveFactory | None = None
    objective_args: Mapping[str, object] = field(default_factory=dict)
    init: str = "noise"
    attribution_objective: str | AttributionFactory | None = None

    def __post_init__(self):
        object.__setattr__(self, "snapshots", tuple(self.snapshots))
        check_steps(self.steps)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.size is not None and (not isinstance(self.size, int) or not MIN_SIZE <= self.size <= MAX_SIZE):
            raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size!r}")
        if self.param not in PARAMS:
            raise ValueError(f"param must be one of {', '.join(PARAMS)}, got {self.param!r}")
        if not (self.transforms is None or isinstance(self.transforms, TransformSpec)
                or self.transforms in (*PRESETS, "none")):
            raise ValueError(f"transforms must be one of {', '.join(PRESETS)}, none or a TransformSpec, "
                             f"got {self.transforms!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be 'noise' or 'photo', got {self.init!r}")
        if self.init == "photo" and self.param not in ("fft", "pixel"):
            raise ValueError(f"init 'photo' needs param 'fft' or 'pixel', got {self.param!r}")
        if schedule.recipe(self.recipe).coarse and (self.param != "fft" or self.snapshots or self.init != "noise"):
            raise ValueError(f"recipe {self.recipe!r} starts at a coarse size: it needs param='fft', init='noise' "
                             "and no snapshots")
        self._check_objectives()

    def _check_objectives(self) -> None:
        args = self.objective_args
        if not isinstance(args, Mapping):
            raise TypeError(f"objective_args must be a dict of the objective's arguments, got {args!r}")
        if self.attributes:
            if args:
                raise ValueError(f"objective_args {dict(args)}: attribution caricature objectives take none")
            if not _is(self.objective, None, DEFAULT_OBJECTIVE, objectives.dot_compare):
                raise ValueError(f"objective={_name(self.objective)} and attribution or iterate exclude each other: "
                                 "attribution caricatures take attribution_objective")
            name = self.attribution_objective
            if isinstance(name, str) and name not in objectives.ATTRIBUTION_OBJECTIVES:
                raise ValueError(f"attribution_objective {name!r} is not an attribution caricature objective; "
                                 f"valid: {', '.join(objectives.ATTRIBUTION_OBJECTIVES)}")
            return
        if not _is(self.attribution_objective, None, DEFAULT_ATTRIBUTION_OBJECTIVE, objectives.attribution_dot):
            raise ValueError(f"attribution_objective={_name(self.attribution_objective)} needs attribution or iterate")
        if args and not isinstance(self.objective, str):
            raise ValueError("objective_args given without an objective; name one in objective=")
        if isinstance(self.objective, str):   # building an objective reads no activations: this checks it all
            objectives.caricature_objective(self.objective, **args)("layer", 1, 0, self.cossim_pow or 0.0)

    @property
    def attributes(self) -> bool:
        """Whether the caricatures are attribution caricatures (toward `attribution`, or iterated)."""
        return self.attribution is not None or bool(self.iterate)

    @property
    def objective_factory(self) -> ObjectiveFactory:
        if isinstance(self.objective, str):
            return objectives.caricature_objective(self.objective, **self.objective_args)
        return self.objective or objectives.dot_compare

    @property
    def attribution_factory(self) -> AttributionFactory:
        if isinstance(self.attribution_objective, str):
            return objectives.ATTRIBUTION_OBJECTIVES[self.attribution_objective]
        return self.attribution_objective or objectives.attribution_dot

    @property
    def objective_name(self) -> str:
        """Return the name of the objective used (attribution's for attribution caricatures), for provenance."""
        return _name(self.attribution_factory if self.attributes else self.objective_factory)


def _is(value, *defaults) -> bool:
    return any(value is d or (isinstance(d, str) and value == d) for d in defaults)


def _name(fn: Callable | str | None) -> str:
    if isinstance(fn, str):
        return fn
    return getattr(fn, "__name__", None) or repr(fn)
