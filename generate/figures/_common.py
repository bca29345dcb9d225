"""Shared by the figure scripts: curated photo sets, memoized caricature runs, labels and tile helpers.

A caricature run is one photo at a tuple of layers of one model, optimized jointly as lucid's recipe does
(`[original, car_1 … car_L]`). Runs are memoized in the build's cache (`config.memo`) under a key made of
everything that determines their pixels, so two figures asking for the same run compute it once, and a
change to a figure's presentation code re-renders it without re-optimizing.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

import generate
from generate.attribution import Target, attribute, attribution_map, iterated_attribution
from generate.caricature import make_caricatures, visualize_channel
from generate.figure import ROOT, FigureConfig, sha256_file
from generate.images import load_photo, photo_credits
from generate.models import load_model
from generate.models.base import Model

# Twelve varied photos (animals, objects, people, places) for the teaser; the first eight are the
# comparison set used wherever several models or settings are put side by side.
TEASER = (
    "images/animals/panda.jpg", "images/objects/coffee.jpg", "images/places/statueofliberty.jpg",
    "images/animals/scarlet_macaw.jpg", "images/objects/grace_hopper.jpg", "images/animals/chelsea_cat.jpg",
    "images/objects/volleyball.jpg", "images/places/neuschwansteincastle.jpg", "images/animals/koala.jpg",
    "images/objects/windmill.jpg", "images/animals/hedgehog.jpg", "images/objects/astronaut.jpg",
)
COMPARE = TEASER[:8]
NAMES = {  # display names where the credited title is a run-together file name
    "coffee": "Coffee cup", "blackslate": "Blackboard slate", "multimeter1": "Multimeter",
    "ajantacave": "Ajanta Caves", "arlesamphitheater": "Arles Amphitheatre",
    "canyondechelly": "Canyon de Chelly", "castillodesanmarcos": "Castillo de San Marcos",
    "castleclinton": "Castle Clinton", "chateaudechenonceau": "Château de Chenonceau",
    "citedecarcassonne": "Cité de Carcassonne", "fortsumter": "Fort Sumter",
    "gatewayofindia": "Gateway of India", "georgewashingtonbirthplace": "George Washington Birthplace",
    "goldentemple": "Golden Temple", "greatpyramidofgiza": "Great Pyramid of Giza",
    "greatstupa": "Great Stupa", "hawamahal": "Hawa Mahal", "konarksuntemple": "Konark Sun Temple",
    "lincolnmemorial": "Lincoln Memorial", "machupicchu": "Machu Picchu", "meidumpyramid": "Meidum Pyramid",
    "montstmichel": "Mont-Saint-Michel", "mysorepalace": "Mysore Palace",
    "neuschwansteincastle": "Neuschwanstein Castle", "rangghar": "Rang Ghar", "redpyramid": "Red Pyramid",
    "reimscathedral": "Reims Cathedral", "schwerinpalace": "Schwerin Palace",
    "statueofliberty": "Statue of Liberty", "trierimperialbaths": "Trier Imperial Baths",
    "wormscathedral": "Worms Cathedral",
}


def all_photos() -> tuple[str, ...]:
    """Return every credited photo as a path relative to the repository, sorted by set then name."""
    return tuple(f"images/{f}" for f in sorted(photo_credits(ROOT / "images")))


def photo_key(path: str) -> str:
    """Return a short stable key for a photo path: its file stem."""
    return Path(path).stem


def photo_set(path: str) -> str:
    """Return the photo's set: animals, objects or places."""
    return Path(path).parent.name


def photo_label(path: str) -> str:
    """Return the photo's display name: from NAMES, else its credited title, else its file name."""
    if photo_key(path) in NAMES:
        return NAMES[photo_key(path)]
    entry = photo_credits(ROOT / "images").get(str(Path(path).relative_to("images")))
    return entry["title"].replace("_", " ").capitalize() if entry else photo_key(path)


class Tally:
    """Report optimization steps across many runs to `config.progress` as one running total."""

    def __init__(self, config: FigureConfig, total: int):
        self.config, self.total, self.done = config, max(total, 1), 0

    def callback(self):
        base = self.done
        return lambda step, steps, _value: self.config.progress(base + step, self.total)

    def advance(self, steps: int) -> None:
        self.done += steps
        self.config.progress(self.done, self.total)


def model_for(name: str, weights: str = "imagenet", seed: int = 0, reinit: tuple[str, ...] = ()) -> Model:
    """Load a model (kept per process: figure scripts ask for the same model many times)."""
    key = (name, weights, seed, tuple(reinit))
    if key not in _MODELS:
        _MODELS[key] = load_model(name, weights=weights, seed=seed, reinit=reinit)
    return _MODELS[key]


_MODELS: dict[tuple, Model] = {}


def caricature_run(config: FigureConfig, model: Model, photo: str, layers: tuple[str, ...], *, steps: int,
                   tally: Tally | None = None, **settings) -> dict[str, np.ndarray]:
    """Return one photo's caricatures at `layers`, memoized: images (L, S, S, 3) uint8, original (S, S, 3)
    uint8, cosine/gain/objective (L,), history (steps, L), and snapshots (K, L, S, S, 3) uint8 with
    snapshot_steps (K,) when `settings["snapshots"]` is given, and with an attribution target attribution_map_<i>
    (H_i, W_i) per layer (plus attribution_maps (L, H, W) when all have one size). Other settings go to `make_caricatures`
    (cossim_pow, seed, lr, transforms, size, attribution, iterate, precision); `attribution` must then be
    JSON-describable through its `name`."""
    settings.setdefault("seed", config.seed)
    size = settings.get("size") or model.input_size
    key = {"kind": "caricature_run", "engine": generate.ENGINE_VERSION, "model": model.name,
           "weights": model.weights, "sha": model.weights_sha256, "photo": photo,
           "photo_sha": sha256_file(ROOT / photo), "layers": list(layers), "steps": steps, "size": size,
           "device": config.device, **_seed_key(model),
           **{k: getattr(v, "name", v) for k, v in settings.items() if k != "progress"}}

    def run() -> dict[str, np.ndarray]:
        result = make_caricatures(model, load_photo(ROOT / photo, size), list(layers), steps=steps,
                                  device=config.device, progress=tally.callback() if tally else None,
                                  **settings)
        out = {"images": to_uint8(result.images[0]), "original": to_uint8(result.originals[0]),
               "history": result.history[:, 0, :].astype(np.float32)}
        for name in ("cosine", "gain", "objective"):
            out[name] = np.array([m[name] for m in result.metrics[0]], dtype=np.float64)
        if result.snapshots:
            steps_ = sorted(result.snapshots)
            out["snapshot_steps"] = np.array(steps_)
            out["snapshots"] = np.stack([to_uint8(result.snapshots[s][0]) for s in steps_])
        if result.attributions:  # maps differ in size across layers: one array per layer, stacked when equal
            maps = [result.attributions[n][0].astype(np.float32) for n in layers]
            out.update({f"attribution_map_{i}": m for i, m in enumerate(maps)})
            if len({m.shape for m in maps}) == 1:
                out["attribution_maps"] = np.stack(maps)
        return out

    out = config.memo(key, run)
    if tally is not None:
        tally.advance(steps)
    return out


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Convert float images in [0, 1] to uint8."""
    return np.clip(np.round(images * 255), 0, 255).astype(np.uint8)


def models_note(*models: Model) -> dict[str, str]:
    """Return {model name (and weights when not ImageNet): weights SHA-256} for provenance."""
    return {m.name if m.weights == "imagenet" else f"{m.name} ({m.weights})": m.weights_sha256 or ""
            for m in models}


def _seed_key(model: Model) -> dict:
    # Seeded weights (random, reinit) have no file digest: the seed tells them apart. ImageNet keys are unchanged.
    seed = model.meta.get("seed")
    return {} if seed is None else {"model_seed": seed}


def with_preprocess(model: Model, label: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Model:
    """Return `model` feeding its network fn(images) instead of its own preprocessing (a broken setup);
    `label` is appended to its weights tag, so memo keys and provenance tell it from the original."""
    return dataclasses.replace(model, preprocess=fn, weights=f"{model.weights}+preprocess:{label}")


def channel_vis(config: FigureConfig, model: Model, layer: str, channel: int, *, steps: int,
                tally: Tally | None = None, **settings) -> dict[str, np.ndarray]:
    """Return one channel's feature visualization, memoized: images (B, S, S, 3) uint8 and objective (B,).
    Settings go to `visualize_channel` (batch, seed, lr, param, decorrelate, transforms, size, position)."""
    settings.setdefault("seed", config.seed)
    key = {"kind": "channel_vis", "engine": generate.ENGINE_VERSION, "model": model.name,
           "weights": model.weights, "sha": model.weights_sha256, **_seed_key(model), "layer": layer,
           "channel": channel, "steps": steps, "size": settings.get("size") or model.input_size,
           "device": config.device, **{k: getattr(v, "name", v) for k, v in settings.items()}}

    def run() -> dict[str, np.ndarray]:
        result = visualize_channel(model, layer, channel, steps=steps, device=config.device,
                                   progress=tally.callback() if tally else None, **settings)
        return {"images": to_uint8(result.images), "objective": np.array(result.objective, dtype=np.float64)}

    out = config.memo(key, run)
    if tally is not None:
        tally.advance(steps)
    return out


def attribution_maps(config: FigureConfig, model: Model, photo: str, layers: Sequence[str], target: Target, *,
                     iterate: bool = False, size: int | None = None) -> dict[str, np.ndarray]:
    """Return a photo's attribution magnitude maps {layer: (H, W) float32} toward `target`, memoized: each layer
    attributed directly (A·∂target/∂A), or with iterate=True walked down `layers` from the deepest."""
    size = size or model.input_size
    key = {"kind": "attribution_maps", "format": 2, "engine": generate.ENGINE_VERSION, "model": model.name,
           "weights": model.weights, "sha": model.weights_sha256, **_seed_key(model), "photo": photo,
           "photo_sha": sha256_file(ROOT / photo), "layers": list(layers), "target": target.name,
           "target_layer": target.layer, "iterate": iterate, "size": size}

    def run() -> dict[str, np.ndarray]:
        image = load_photo(ROOT / photo, size)
        attrs = (iterated_attribution(model, image, layers, target) if iterate
                 else attribute(model, image, layers, target))
        return {n: attribution_map(attrs[n]).numpy().astype(np.float32) for n in layers}

    return config.memo(key, run)
