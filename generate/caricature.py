"""The API figure scripts call: caricatures of photos at layers, and feature visualizations of channels.

    result = make_caricatures(load_model("efficientnet_lite0"), load_photo(path, 224), ["block2", "block7"])
    result.images[0, 1]          # (224, 224, 3) float32 in [0, 1]: photo 0 at block7
    result.metrics[0][1]         # {"cosine": …, "gain": …, "objective": …}

Both entry points share the parametrization, transforms and loop of `render.optimize`, and record every
setting in `settings` so a figure can state its provenance.
"""
from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from generate import ENGINE_VERSION, objectives, schedule
from generate.attribution import Target, attribute, attribution_map, iterated_attribution
from generate.metrics import compare, evaluate
from generate.models.base import Model
from generate.objectives import Objective, attribution_dot, dot_compare
from generate.param import Param, from_images, image_param
from generate.prepare import default_device, prepare_model, resolve_precision
from generate.render import Progress, Render, optimize, to_numpy
from generate.transforms import PRESETS, TransformSpec, build_transforms

TRANSFORM_SEED_OFFSET = 7919  # transforms draw from their own stream, so changing one never shifts the other

# (layer, row, original_row, cossim_pow) → the objective of one caricature: row's activations at layer against
# the photo's at original_row, as lucid's dot_compare.
ObjectiveFactory = Callable[[str, int, int, float], Objective]
# (layer, attr, row, original_row, cossim_pow) → the objective of one attribution caricature (attribution_dot).
AttributionFactory = Callable[[str, torch.Tensor, int, int, float], Objective]


@dataclass
class CaricatureResult:
    """Caricatures of P photos at L layers; arrays are float32, images (P, L, S, S, 3) in [0, 1]."""
    images: np.ndarray
    originals: np.ndarray                 # (P, S, S, 3)
    layers: list[str]
    metrics: list[list[dict[str, float]]]  # [photo][layer] → cosine, gain, objective
    snapshots: dict[int, np.ndarray]      # step → (P, L, S, S, 3)
    history: np.ndarray                   # (steps, P, L): each caricature's objective on transformed images
    attributions: dict[str, np.ndarray] | None  # layer → (P, H, W) attribution magnitude maps
    settings: dict


@dataclass
class VisResult:
    """Feature visualizations: images (B, S, S, 3) in [0, 1] and each image's final objective."""
    images: np.ndarray
    objective: list[float]
    snapshots: dict[int, np.ndarray]
    history: np.ndarray                   # (steps, B)
    settings: dict


def _photos(photos: torch.Tensor | Sequence[torch.Tensor], size: int) -> torch.Tensor:
    batch = photos if isinstance(photos, torch.Tensor) and photos.dim() == 4 else (
        photos[None] if isinstance(photos, torch.Tensor) else torch.stack(list(photos)))
    if batch.dim() != 4 or batch.shape[1] != 3:
        raise ValueError(f"photos must be (3, S, S) or (P, 3, S, S) tensors, got shape {tuple(batch.shape)}")
    batch = batch.float()
    if batch.shape[-2:] != (size, size):
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return batch.clamp(0, 1)


def _transform_settings(transforms: str | TransformSpec | None) -> dict | str | None:
    if isinstance(transforms, TransformSpec):
        return dataclasses.asdict(transforms)
    if isinstance(transforms, str) and transforms in PRESETS:
        return {"preset": transforms, **dataclasses.asdict(PRESETS[transforms])}
    return transforms


def _settings(model: Model, run: Render, device: str, **kw) -> dict:
    return {"model": model.name, "weights": model.weights, "weights_sha256": model.weights_sha256,
            **kw, "device": device, "precision": run.precision, "threads": torch.get_num_threads(),
            "streams": run.streams, "seconds": round(run.seconds, 2),
            "engine_version": ENGINE_VERSION, "torch": torch.__version__, "machine": platform.machine()}


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", None) or repr(fn)


def _attributions(model: Model, photo: torch.Tensor, layers: list[str], target: Target | None,
                  iterate: bool) -> dict[str, torch.Tensor]:
    if iterate:
        return iterated_attribution(model, photo, layers, target)
    return attribute(model, photo, layers, target)


def make_caricatures(model: Model, photos: torch.Tensor | Sequence[torch.Tensor], layers: Sequence[str], *,
                     steps: int = 512, cossim_pow: float = 0.0, seed: int = 0, lr: float = 0.05,
                     param: str = "fft", transforms: str | TransformSpec | None = "standard",
                     attribution: Target | None = None, iterate: bool = False, snapshots: Sequence[int] = (),
                     size: int | None = None, device: str | None = None, precision: str = "auto",
                     progress: Progress | None = None, objective: ObjectiveFactory = dot_compare,
                     groups: Sequence[int] | None = None, recipe: str = "lucid",
                     init: str = "noise",
                     attribution_objective: AttributionFactory = attribution_dot) -> CaricatureResult:
    """Optimize one caricature per (photo, layer), all jointly in one batch.

    photos: (3, S, S) or (P, 3, S, S) in [0, 1], resized to `size` (default the model's input size).
    objective: each caricature's objective, `objective(layer, row, original_row, cossim_pow)` (default
    lucid's dot_compare). attribution: caricature toward a `Target` (objective Σ A·attr) instead;
    iterate: attribute down the requested layers from the deepest (start: `attribution` or its Σ A²);
    attribution_objective: theirs, `attribution_objective(layer, attr, row, original_row, cossim_pow)`
    (default attribution_dot, whose cosine power is to the photo's activation).
    groups: photo counts of runs packed into this batch (they sum to P): each group's random start is drawn
    as if it were optimized alone, so packing runs together changes no pixel (rounding aside).
    recipe: the optimization schedule, a name in `schedule.RECIPES` ("lucid": Adam at `lr`, full size).
    init: "noise" (the parametrization's seeded random start) or "photo" (each caricature starts as its photo,
    `param.from_images`; "fft" or "pixel" only). An objective may have several terms per caricature; its
    `objective` metric and `history` are their sum.
    """
    layers = list(layers)
    if not layers:
        raise ValueError("no layers given; name at least one of " + ", ".join(model.layers))
    for name in layers:
        model.layer(name)
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    if objective is not dot_compare and (attribution is not None or iterate):
        raise ValueError(f"objective={_name(objective)} and attribution or iterate exclude each other: "
                         "attribution caricatures use attribution_dot")
    if attribution_objective is not attribution_dot and attribution is None and not iterate:
        raise ValueError(f"attribution_objective={_name(attribution_objective)} needs attribution or iterate")
    device = device or default_device()
    size = size or model.input_size
    batch = _photos(photos, size)
    n_photos, n_layers = batch.shape[0], len(layers)
    exact = prepare_model(model, device, "fp32")
    attrs = None
    if attribution is not None or iterate:
        attrs = [_attributions(exact, batch[p], layers, attribution, iterate) for p in range(n_photos)]
    terms = []
    for p in range(n_photos):
        for i, name in enumerate(layers):
            row = n_photos + p * n_layers + i
            terms.append(objective(name, row, p, cossim_pow) if attrs is None
                         else attribution_objective(name, attrs[p][name], row, p, cossim_pow))
    total = Objective([t for o in terms for t in o.terms])
    groups = list(groups or [n_photos])
    if sum(groups) != n_photos or min(groups) < 1:
        raise ValueError(f"groups {groups} must be positive photo counts summing to {n_photos}")
    rec = schedule.recipe(recipe)
    if rec.coarse and (param != "fft" or snapshots or init != "noise"):
        raise ValueError(f"recipe {recipe!r} starts at a coarse size: it needs param='fft', init='noise' and no "
                         "snapshots")
    if init not in ("noise", "photo"):
        raise ValueError(f"init must be 'noise' or 'photo', got {init!r}")

    def start(s: int) -> Param:
        if init == "photo":
            return from_images(param, _photos(batch, s).repeat_interleave(n_layers, 0), device=device)
        return Param.cat([image_param(param, s, g * n_layers, seed=seed, device=device) for g in groups])
    fast = exact if resolve_precision(precision, device) == "fp32" else model
    run = _follow(rec, fast, total, start, transforms, seed, batch, steps,
                  lr=schedule.row_rates(rec, model, layers * n_photos, lr), snapshots=snapshots,
                  precision=precision, progress=progress)
    images = torch.from_numpy(run.images).permute(0, 3, 1, 2)
    values, acts = evaluate(exact, total, images, batch)
    counts = [len(o.terms) for o in terms]
    values, history = _per_caricature(np.array(values)[None], counts)[0].tolist(), _per_caricature(run.history, counts)
    metrics = [[{**compare(acts[name][n_photos + p * n_layers + i], acts[name][p]),
                 "objective": values[p * n_layers + i]} for i, name in enumerate(layers)]
               for p in range(n_photos)]
    maps = None
    if attrs is not None:
        maps = {n: np.stack([attribution_map(attrs[p][n]).cpu().numpy() if attrs[p][n].dim() == 3
                             else attrs[p][n].cpu().numpy() for p in range(n_photos)]) for n in layers}
    shape = (n_photos, n_layers, size, size, 3)
    settings = _settings(model, run, device, kind="caricature", layers=layers, photos=n_photos, steps=steps,
                         seed=seed, lr=lr, cossim_pow=cossim_pow, param=param, init=init,
                         transforms=_transform_settings(transforms), size=size,
                         attribution=None if attribution is None else attribution.name, iterate=iterate,
                         objective=_name(attribution_objective if attrs is not None else objective), recipe=recipe)
    return CaricatureResult(run.images.reshape(shape), to_numpy(batch), layers, metrics,
                            {k: v.reshape(shape) for k, v in run.snapshots.items()},
                            history.reshape(-1, n_photos, n_layers), maps, settings)


def _per_caricature(columns: np.ndarray, counts: list[int]) -> np.ndarray:
    """Return (steps, terms) columns summed into (steps, caricatures), caricature k owning counts[k] terms."""
    if all(c == 1 for c in counts):
        return columns
    ends = np.cumsum(counts)
    return np.stack([columns[:, e - c:e].sum(1) for c, e in zip(counts, ends)], axis=1)


def _follow(rec: schedule.Recipe, model: Model, objective: Objective, start: Callable[[int], Param],
            transforms: str | TransformSpec | None, seed: int, photos: torch.Tensor, steps: int,
            progress: Progress | None = None, **kw) -> Render:
    """Optimize as the recipe says: its coarse steps at the coarse size (if any), the rest at full size."""
    size, tseed = photos.shape[-1], seed + TRANSFORM_SEED_OFFSET
    k, small = schedule.coarse_plan(rec, steps, size)
    if not k:
        return optimize(model, objective, start(size), build_transforms(transforms, size, tseed), steps,
                        originals=photos, progress=progress, **kw)
    coarse = start(small)
    trans = build_transforms(schedule.shrink_transforms(transforms, small / size), small, tseed)
    first = optimize(model, objective, coarse, trans, k, originals=_photos(photos, small), progress=progress, **kw)
    shifted = None if progress is None else (lambda s, _n, v: progress(k + s, steps, v))
    rest = optimize(model, objective, schedule.embed_spectrum(coarse, size), build_transforms(transforms, size, tseed),
                    steps - k, originals=photos, progress=shifted, **kw)
    return dataclasses.replace(rest, history=np.concatenate([first.history, rest.history]),
                               seconds=first.seconds + rest.seconds)


def visualize_channel(model: Model, layer: str, channel: int, *, steps: int = 512, batch: int = 1,
                      seed: int = 0, lr: float = 0.05, param: str = "fft", decorrelate: bool = True,
                      transforms: str | TransformSpec | None = "standard",
                      preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      position: tuple[int, int] | None = None, size: int | None = None,
                      snapshots: Sequence[int] = (), device: str | None = None, precision: str = "auto",
                      progress: Progress | None = None) -> VisResult:
    """Optimize `batch` images to maximize one channel's mean (or, with position=(x, y), one neuron).

    Settings are switchable to show broken setups: transforms=None, a wrong `preprocess`, a high `lr`,
    a random model, plain pixels (param="pixel", decorrelate=False).
    """
    lay = model.layer(layer)
    if not 0 <= channel < lay.channels:
        raise ValueError(f"channel {channel} out of range for {layer} ({lay.channels} channels)")
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    if preprocess is not None:
        model = dataclasses.replace(model, preprocess=preprocess)
    device = device or default_device()
    size = size or model.input_size
    terms = [objectives.channel(layer, channel, b) if position is None
             else objectives.neuron(layer, channel, position[0], position[1], b) for b in range(batch)]
    objective = Objective([t for o in terms for t in o.terms])
    params = image_param(param, size, batch, seed=seed, device=device, decorrelate=decorrelate)
    trans = build_transforms(transforms, size, seed + TRANSFORM_SEED_OFFSET)
    exact = prepare_model(model, device, "fp32")
    fast = exact if resolve_precision(precision, device) == "fp32" else model
    run = optimize(fast, objective, params, trans, steps, lr=lr, snapshots=snapshots, precision=precision,
                   progress=progress)
    values, _ = evaluate(exact, objective, torch.from_numpy(run.images).permute(0, 3, 1, 2))
    settings = _settings(model, run, device, kind="channel", layer=layer, channel=channel,
                         position=position, batch=batch, steps=steps, seed=seed, lr=lr, param=param,
                         decorrelate=decorrelate, transforms=_transform_settings(transforms), size=size,
                         preprocess=None if preprocess is None else getattr(preprocess, "__name__", "custom"))
    return VisResult(run.images, values, run.snapshots, run.history, settings)

