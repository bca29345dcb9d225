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

from caricatures import ENGINE_VERSION, objectives, schedule
from caricatures.attribution import Target, attribute, attribution_map, iterated_attribution
from caricatures.metrics import compare, evaluate
from caricatures.models.base import Model
from caricatures.objectives import Objective
from caricatures.param import Param, from_images, image_param
from caricatures.prepare import default_device, prepare_model, resolve_precision
from caricatures.render import Progress, Render, optimize, to_numpy
from caricatures.settings import Settings, check_steps
from caricatures.transforms import PRESETS, TransformSpec, build_transforms

TRANSFORM_SEED_OFFSET = 7919  # transforms draw from their own stream, so changing one never shifts the other

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


def _attributions(model: Model, photo: torch.Tensor, layers: list[str], target: Target | None,
                  iterate: bool) -> dict[str, torch.Tensor]:
    if iterate:
        return iterated_attribution(model, photo, layers, target)
    return attribute(model, photo, layers, target)


def caricature_row(photo: int, layer: int, n_photos: int, n_layers: int) -> int:
    """Return the row of photo `photo`'s caricature at its `layer`-th layer in the logical batch
    `[photos…, photo 0's caricatures…, photo 1's…]`."""
    return n_photos + photo * n_layers + layer


def make_caricatures(model: Model, photos: torch.Tensor | Sequence[torch.Tensor], layers: Sequence[str],
                     settings: Settings | None = None, *, device: str | None = None, precision: str = "auto",
                     progress: Progress | None = None, groups: Sequence[int] | None = None,
                     **fields) -> CaricatureResult:
    """Optimize one caricature per (photo, layer), all jointly in one batch.

    photos: (3, S, S) or (P, 3, S, S) in [0, 1], resized to the settings' `size` (default the model's input
    size). settings: a `Settings` (caricatures/settings.py), or its fields as keyword arguments (steps=…, lr=…).
    Each caricature's objective is `objective(layer, row, original_row, cossim_pow)`, or for attribution
    caricatures `attribution_objective(layer, attr, row, original_row, cossim_pow)`; an objective may have
    several terms per caricature, and its `objective` metric and `history` are their sum.
    groups: photo counts of runs packed into this batch (they sum to P): each group's random start is drawn
    as if it were optimized alone, so packing runs together changes no pixel (rounding aside).
    """
    if settings is None:
        settings = Settings(**fields)
    elif fields:
        raise TypeError(f"give a Settings or its fields ({', '.join(sorted(fields))}), not both")
    s = settings
    layers = list(layers)
    if not layers:
        raise ValueError("no layers given; name at least one of " + ", ".join(model.layers))
    for name in layers:
        model.layer(name)
    device = device or default_device()
    size = s.size or model.input_size
    batch = _photos(photos, size)
    n_photos, n_layers = batch.shape[0], len(layers)
    groups = list(groups or [n_photos])
    if sum(groups) != n_photos or min(groups) < 1:
        raise ValueError(f"groups {groups} must be positive photo counts summing to {n_photos}")
    exact = prepare_model(model, device, "fp32")
    attrs = None
    if s.attributes:
        attrs = [_attributions(exact, batch[p], layers, s.attribution, s.iterate) for p in range(n_photos)]
    make, make_attr = s.objective_factory, s.attribution_factory
    terms = []
    for p in range(n_photos):
        for i, name in enumerate(layers):
            row = caricature_row(p, i, n_photos, n_layers)
            terms.append(make(name, row, p, s.cossim_pow) if attrs is None
                         else make_attr(name, attrs[p][name], row, p, s.cossim_pow))
    total = Objective([t for o in terms for t in o.terms])
    rec = schedule.recipe(s.recipe)

    def start(side: int) -> Param:
        if s.init == "photo":
            return from_images(s.param, _photos(batch, side).repeat_interleave(n_layers, 0), device=device)
        return Param.cat([image_param(s.param, side, g * n_layers, seed=s.seed, device=device) for g in groups])
    fast = exact if resolve_precision(precision, device) == "fp32" else model
    run = _follow(rec, fast, total, start, s.transforms, s.seed, batch, s.steps,
                  lr=schedule.row_rates(rec, model, layers * n_photos, s.lr), snapshots=s.snapshots,
                  precision=precision, progress=progress)
    images = torch.from_numpy(run.images).permute(0, 3, 1, 2)
    values, acts = evaluate(exact, total, images, batch)
    counts = [len(o.terms) for o in terms]
    values, history = _per_caricature(np.array(values)[None], counts)[0].tolist(), _per_caricature(run.history, counts)
    metrics = [[{**compare(acts[name][caricature_row(p, i, n_photos, n_layers)], acts[name][p]),
                 "objective": values[p * n_layers + i]} for i, name in enumerate(layers)]
               for p in range(n_photos)]
    maps = None
    if attrs is not None:
        maps = {n: np.stack([attribution_map(attrs[p][n]).cpu().numpy() if attrs[p][n].dim() == 3
                             else attrs[p][n].cpu().numpy() for p in range(n_photos)]) for n in layers}
    shape = (n_photos, n_layers, size, size, 3)
    record = _settings(model, run, device, kind="caricature", layers=layers, photos=n_photos, steps=s.steps,
                       seed=s.seed, lr=s.lr, cossim_pow=s.cossim_pow, param=s.param, init=s.init,
                       transforms=_transform_settings(s.transforms), size=size,
                       attribution=None if s.attribution is None else s.attribution.name, iterate=s.iterate,
                       objective=s.objective_name, recipe=s.recipe)
    return CaricatureResult(run.images.reshape(shape), to_numpy(batch), layers, metrics,
                            {k: v.reshape(shape) for k, v in run.snapshots.items()},
                            history.reshape(-1, n_photos, n_layers), maps, record)


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
    check_steps(steps)
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

