"""Part 1's shared runs: the Lite0 "core" caricatures (the teaser's settings) that the model, preprocessing
and branch figures reuse, comparable depths across models, layer labels, and a lock per run.

A figure that uses the core runs declares `params={"core": CORE}` (and `CORE_QUICK` under quick), so the
settings are part of its spec and its cache key; `core_run` reads them from there. Core and model-set runs
optimize a fixed chunk of photos in one batch (about a third less CPU time per caricature than one photo
at a time, measured here); a figure asking for one photo gets its slice of its chunk's memoized run.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json

import numpy as np

import generate
from generate.caricature import make_caricatures
from generate.figure import ROOT, FigureConfig, FigureSpec, sha256_file
from generate.figures._common import COMPARE, TEASER, Tally, caricature_run, model_for, to_uint8
from generate.figures._measures import image_metrics, pixel_correlation
from generate.images import load_photo
from generate.models.base import Model

LITE0 = "efficientnet_lite0"
# 128 px and 96 steps: where cosine has flattened and gain passes 1 in the convergence study, at a cost
# that lets 12 photos × 6 stage ends fit the build budget (see the `convergence` figure and the methods).
CORE = {"size": 128, "steps": 96, "lr": 0.05, "photos": list(TEASER), "batch": 4,
        "layers": ["block0", "block2", "block4", "block7", "block10", "block14"]}
CORE_QUICK = {"size": 64, "steps": 4, "lr": 0.05, "photos": list(TEASER[:2]), "batch": 4,
              "layers": ["block2", "block7", "block14"]}
# The photos of the model comparison, in batches of three; `preprocessing` reuses its MobileNetV2 runs.
MODEL_SET = {"photos": list(COMPARE[:6]), "batch": 3}
MODEL_SET_QUICK = {"photos": list(COMPARE[:1]), "batch": 3}
# The convergence study (figures `convergence` and `progress`): lucid's 512 steps, snapshots along the way.
STUDY = {"size": 128, "steps": 512, "lr": 0.05, "layers": ["block2", "block4", "block7", "block14"],
         "snapshots": [0, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512]}
STUDY_QUICK = {"size": 64, "steps": 16, "lr": 0.05, "layers": ["block2", "block7"], "snapshots": [0, 4, 8, 16]}
# Comparable depths: the end of the 2nd, 4th and 6th of the seven stages every model in the zoo has.
DEPTHS = {"early": 1, "middle": 3, "late": 5}
DEPTHS_QUICK = DEPTHS


@contextlib.contextmanager
def _locked(config: FigureConfig, ident: str):
    """Hold an exclusive lock per run while it is computed, so two build workers compute it once."""
    lock = config.cache_dir / "memo" / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:     # closing the file releases the lock
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def chunk_of(photos: list[str] | tuple[str, ...], photo: str, size: int) -> tuple[str, ...]:
    """Return the run of `size` consecutive photos of `photos` (cut from the start) that contains `photo`."""
    i = list(photos).index(photo)
    return tuple(photos[i - i % size:i - i % size + size])


def batch_run(config: FigureConfig, model: Model, photos: tuple[str, ...], layers: list[str] | tuple[str, ...],
              *, steps: int, tally: Tally | None = None, **settings) -> list[dict[str, np.ndarray]]:
    """Return one dict per photo as `caricature_run` does (images, original, cosine, gain, objective, history),
    for photos optimized together in one batch; memoized per batch and locked across build workers."""
    settings.setdefault("seed", config.seed)
    size = settings.get("size") or model.input_size
    key = {"kind": "caricature_batch", "engine": generate.ENGINE_VERSION, "model": model.name,
           "weights": model.weights, "sha": model.weights_sha256, "model_seed": model.meta.get("seed"),
           "photos": list(photos), "photo_sha": [sha256_file(ROOT / p) for p in photos], "layers": list(layers),
           "steps": steps, "size": size, "device": config.device, **settings}

    def run() -> dict[str, np.ndarray]:
        result = make_caricatures(model, [load_photo(ROOT / p, size) for p in photos], list(layers), steps=steps,
                                  device=config.device, progress=tally.callback() if tally else None, **settings)
        out = {"images": to_uint8(result.images), "original": to_uint8(result.originals),
               "history": result.history.astype(np.float32)}
        for name in ("cosine", "gain", "objective"):
            out[name] = np.array([[m[name] for m in row] for row in result.metrics], dtype=np.float64)
        return out

    with _locked(config, json.dumps(key, sort_keys=True)):
        out = config.memo(key, run)
    if tally is not None:
        tally.advance(steps)
    return [{"images": out["images"][i], "original": out["original"][i], "history": out["history"][:, i],
             **{n: out[n][i] for n in ("cosine", "gain", "objective")}} for i in range(len(photos))]


def set_run(config: FigureConfig, spec: FigureSpec, model: Model, photo: str, layers: list[str], *,
            steps: int, tally: Tally | None = None, **settings) -> dict[str, np.ndarray]:
    """Return `photo`'s slice of the batched run of its chunk of spec.params["set"] (the model comparison's)."""
    group = spec.params["set"]
    chunk = chunk_of(group["photos"], photo, group["batch"])
    return batch_run(config, model, chunk, layers, steps=steps, tally=tally, **settings)[chunk.index(photo)]


def shared_run(config: FigureConfig, model: Model, photo: str, layers: tuple[str, ...] | list[str], *,
               steps: int, tally: Tally | None = None, **settings) -> dict[str, np.ndarray]:
    """Return `caricature_run(...)`, computed once even when two build workers ask for it at the same time."""
    ident = json.dumps([model.name, model.weights, model.meta.get("seed"), photo, list(layers), steps,
                        config.device, config.seed, sorted((k, repr(v)) for k, v in settings.items())])
    with _locked(config, ident):
        return caricature_run(config, model, photo, tuple(layers), steps=steps, tally=tally, **settings)


def core_run(config: FigureConfig, spec: FigureSpec, photo: str, tally: Tally | None = None) -> dict:
    """Return the core Lite0 run of `photo` at the core layers with the settings in spec.params["core"]."""
    core = spec.params["core"]
    chunk = chunk_of(core["photos"], photo, core["batch"])
    return batch_run(config, model_for(LITE0), chunk, core["layers"], steps=core["steps"], tally=tally,
                     size=core["size"], lr=core["lr"])[chunk.index(photo)]


def study_run(config: FigureConfig, spec: FigureSpec, photo: str, tally: Tally | None = None) -> dict:
    """Return the convergence-study run of `photo` (settings in spec.params["study"]), with snapshots."""
    study = spec.params["study"]
    return shared_run(config, model_for(LITE0), photo, study["layers"], steps=study["steps"], tally=tally,
                      size=study["size"], lr=study["lr"], snapshots=tuple(study["snapshots"]))


def seed_spread(config: FigureConfig, spec: FigureSpec, extra: int, tally: Tally | None = None) -> dict:
    """Rerun the first core batch with `extra` other seeds. Per core layer, medians over its photos of: the
    range of cosine and of gain across seeds, and the cosine (activations at the layer) and the pixel
    correlation between the caricature of the figure's seed and that of each other seed."""
    core, model = spec.params["core"], model_for(LITE0)
    chunk = tuple(core["photos"][:core["batch"]])
    runs = [batch_run(config, model, chunk, core["layers"], steps=core["steps"], tally=tally, size=core["size"],
                      lr=core["lr"], seed=config.seed + k) for k in range(extra + 1)]
    out = {"seeds": len(runs), "photos": len(chunk)}
    for i, layer in enumerate(core["layers"]):
        spread = {n: np.median([np.ptp([run[p][n][i] for run in runs]) for p in range(len(chunk))])
                  for n in ("cosine", "gain")}
        pairs = [(runs[0][p]["images"][i], run[p]["images"][i]) for p in range(len(chunk)) for run in runs[1:]]
        cross = [image_metrics(model, a, b[None], [layer])[0]["cosine"] for a, b in pairs]
        out[layer] = {"cosine_range": float(spread["cosine"]), "gain_range": float(spread["gain"]),
                      "cross_cosine": float(np.median(cross)),
                      "cross_pixel_r": float(np.median([pixel_correlation(a, b) for a, b in pairs]))}
    for name in ("cosine_range", "gain_range", "cross_cosine", "cross_pixel_r"):
        values = [out[n][name] for n in core["layers"]]
        out[f"{name}_min"], out[f"{name}_max"] = min(values), max(values)
    return out


def core_steps(spec: FigureSpec, photos: int) -> int:
    """Return the optimization steps the core runs of `photos` photos take (for a Tally's total)."""
    return photos * spec.params["core"]["steps"]


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
