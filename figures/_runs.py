"""Part 1's shared runs: the Lite0 "core" caricatures (the teaser's settings) that the model, preprocessing
and branch figures reuse, the convergence study, comparable depths across models and layer labels.

A figure that uses the core runs declares `params={"core": CORE}` (and `CORE_QUICK` under quick), so the
settings are part of its spec and its cache key; `core_run` reads them from there. Core and model-set runs
optimize a fixed chunk of photos in one batch; a figure asking for one photo gets its slice of its chunk's
run, and figures that need the same chunk share its run.
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.files import to_uint8
from caricatures.images import load_photo
from caricatures.models.base import Model
from figures._common import COMPARE, TEASER, model_for, one, ref
from figures._measures import image_metrics, pixel_correlation, to_tensor
from sitegen import ROOT
from sitegen.contract import FigureConfig, FigureSpec
from sitegen.runs import ModelRef, Run, caricature

LITE0 = "efficientnet_lite0"
# Lucid's recipe: the model's input size and 512 steps (the `convergence` figure shows what fewer would lose).
CORE = {"size": 224, "steps": 512, "lr": 0.05, "photos": list(TEASER), "batch": 4,
        "layers": ["block0", "block2", "block4", "block7", "block10", "block14"]}
CORE_QUICK = {"size": 64, "steps": 4, "lr": 0.05, "photos": list(TEASER[:2]), "batch": 4,
              "layers": ["block2", "block7", "block14"]}
# The photos of the model comparison, in batches of three; `preprocessing` reuses its MobileNetV2 runs.
MODEL_SET = {"photos": list(COMPARE[:6]), "batch": 3}
MODEL_SET_QUICK = {"photos": list(COMPARE[:1]), "batch": 3}
# The convergence study (figures `convergence` and `progress`): lucid's 512 steps, snapshots along the way.
STUDY = {"size": 224, "steps": 512, "lr": 0.05, "layers": ["block2", "block4", "block7", "block14"],
         "snapshots": [0, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512]}
STUDY_QUICK = {"size": 64, "steps": 16, "lr": 0.05, "layers": ["block2", "block7"], "snapshots": [0, 4, 8, 16]}
# Comparable depths: the end of the 2nd, 4th and 6th of the seven stages every model in the zoo has.
DEPTHS = {"early": 1, "middle": 3, "late": 5}
DEPTHS_QUICK = DEPTHS


def chunk_of(photos: list[str] | tuple[str, ...], photo: str, size: int) -> tuple[str, ...]:
    """Return the run of `size` consecutive photos of `photos` (cut from the start) that contains `photo`."""
    i = list(photos).index(photo)
    return tuple(photos[i - i % size:i - i % size + size])


def chunk_run(model: ModelRef, photos, photo: str, batch: int, layers, *, steps: int, **settings) -> tuple[Run, int]:
    """Return the caricature run of `photo`'s chunk of `photos` (batches of `batch`) and its index there."""
    chunk = chunk_of(photos, photo, batch)
    return caricature(model, chunk, layers, steps=steps, **settings), chunk.index(photo)


def hundred_run(spec: FigureSpec, photo: str) -> tuple[Run, int]:
    """Return the run of `photo`'s chunk in the hundred-photo study (figures `scale` and `identification`:
    spec.inputs at spec.layers of Lite0, settings in spec.params) and the photo's index in it."""
    p = spec.params
    return chunk_run(ref(LITE0), spec.inputs, photo, p["batch"], spec.layers, steps=spec.steps, size=p["size"],
                     lr=p["lr"], seed=spec.seed)


def core_run(spec: FigureSpec, photo: str, seed: int | None = None) -> tuple[Run, int]:
    """Return the core Lite0 run of `photo`'s chunk (settings in spec.params["core"]) and the photo's index."""
    core = spec.params["core"]
    return chunk_run(ref(LITE0), core["photos"], photo, core["batch"], core["layers"], steps=core["steps"],
                     size=core["size"], lr=core["lr"], seed=spec.seed if seed is None else seed)


def core_result(config: FigureConfig, spec: FigureSpec, photo: str) -> dict[str, np.ndarray]:
    """Return `photo`'s slice of its core run: images (L, S, S, 3), original, cosine, gain, … (L,)."""
    return one(config, *core_run(spec, photo))


def set_run(spec: FigureSpec, model: ModelRef, photo: str, layers, **settings) -> tuple[Run, int]:
    """Return the run of `photo`'s chunk of spec.params["set"] (the model comparison's batches) at `layers`."""
    group, core = spec.params["set"], spec.params["core"]
    return chunk_run(model, group["photos"], photo, group["batch"], layers, steps=spec.steps, size=core["size"],
                     lr=core["lr"], seed=spec.seed, **settings)


def study_run(spec: FigureSpec, photo: str) -> Run:
    """Return the convergence-study run of `photo` (settings in spec.params["study"]), with snapshots."""
    study = spec.params["study"]
    return caricature(ref(LITE0), [photo], study["layers"], steps=study["steps"], size=study["size"],
                      lr=study["lr"], snapshots=study["snapshots"], seed=spec.seed)


def seed_runs(spec: FigureSpec, extra: int) -> list[Run]:
    """Return the first core batch run with the figure's seed and with `extra` other seeds."""
    first = spec.params["core"]["photos"][0]
    return [core_run(spec, first, spec.seed + k)[0] for k in range(extra + 1)]


def seed_spread(config: FigureConfig, spec: FigureSpec, extra: int) -> dict:
    """From the first core batch rerun with `extra` other seeds, per core layer, medians over its photos of: the
    range of cosine and of gain across seeds, and the cosine (activations at the layer) and the pixel
    correlation between the caricature of the figure's seed and that of each other seed."""
    core, model = spec.params["core"], model_for(LITE0)
    runs = [config.result(r) for r in seed_runs(spec, extra)]
    photos = len(runs[0]["images"])
    out = {"seeds": len(runs), "photos": photos}
    for i, layer in enumerate(core["layers"]):
        spread = {n: np.median([np.ptp([run[n][p][i] for run in runs]) for p in range(photos)])
                  for n in ("cosine", "gain")}
        pairs = [(runs[0]["images"][p][i], run["images"][p][i]) for p in range(photos) for run in runs[1:]]
        cross = [image_metrics(model, a, b[None], [layer])[0]["cosine"] for a, b in pairs]
        out[layer] = {"cosine_range": float(spread["cosine"]), "gain_range": float(spread["gain"]),
                      "cross_cosine": float(np.median(cross)),
                      "cross_pixel_r": float(np.median([pixel_correlation(a, b) for a, b in pairs]))}
    for name in ("cosine_range", "gain_range", "cross_cosine", "cross_pixel_r"):
        values = [out[n][name] for n in core["layers"]]
        out[f"{name}_min"], out[f"{name}_max"] = min(values), max(values)
    return out


def photo_channels(spec: FigureSpec, path: str) -> tuple[np.ndarray, dict[str, int]]:
    """Return the photo as the core runs see it (uint8 at the core size) and its most active channel at each of
    spec.layers in Lite0."""
    photo = to_uint8(load_photo(ROOT / path, spec.params["core"]["size"]).permute(1, 2, 0).numpy())
    with torch.no_grad():
        acts = model_for(LITE0).activations(to_tensor(photo[None]), list(spec.layers))
    return photo, {n: int(acts[n][0].float().mean((1, 2)).argmax()) for n in spec.layers}


def depth_layers(model: Model, depths: dict[str, int]) -> dict[str, str]:
    """Return {depth key: the model's layer at that stage end}."""
    ends = model.meta["stage_ends"]
    return {key: ends[i] for key, i in depths.items()}


def layer_label(model: Model, name: str, size: int) -> str:
    """Return e.g. "block 7 · 80 ch · 8×8" for the layer's activation at optimization size `size`."""
    c, h, w = model.shape(name, size)
    return f"{model.layer(name).title.split(' · ')[0]} · {c} ch · {h}×{w}"


def pretty(name: str) -> str:
    """Return a layer name for reading: block7 → block 7, block7.branch → block 7 branch."""
    return name.replace("block", "block ").replace(".branch", " branch")


def short_label(name: str) -> str:
    """Return a compact layer label: block7 → b7, block7.branch → b7 branch."""
    return name.replace("block", "b").replace(".branch", " branch")


MODEL_LABELS = {"efficientnet_lite0": "Lite0", "efficientnet_lite1": "Lite1", "efficientnet_lite2": "Lite2",
                "mobilenet_v2": "MobileNetV2"}
