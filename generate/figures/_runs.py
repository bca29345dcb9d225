"""Part 1's shared runs: the Lite0 "core" caricatures (the teaser's settings) that the model, preprocessing
and branch figures reuse, comparable depths across models, layer labels, and a lock per run.

A figure that uses the core runs declares `params={"core": CORE}` (and `CORE_QUICK` under quick), so the
settings are part of its spec and its cache key; `core_run` reads them from there.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json

import numpy as np

from generate.figure import FigureConfig, FigureSpec
from generate.figures._common import Tally, caricature_run, model_for
from generate.models.base import Model

LITE0 = "efficientnet_lite0"
# 128 px and 96 steps: where cosine has flattened and gain passes 1 in the convergence study, at a cost
# that lets 12 photos × 6 stage ends fit the build budget (see the `convergence` figure and the methods).
CORE = {"size": 128, "steps": 96, "lr": 0.05,
        "layers": ["block0", "block2", "block4", "block7", "block10", "block14"]}
CORE_QUICK = {"size": 64, "steps": 4, "lr": 0.05, "layers": ["block2", "block14"]}
# The convergence study (figures `convergence` and `progress`): lucid's 512 steps, snapshots along the way.
STUDY = {"size": 128, "steps": 512, "lr": 0.05, "layers": ["block2", "block4", "block7", "block14"],
         "snapshots": [0, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512]}
STUDY_QUICK = {"size": 64, "steps": 16, "lr": 0.05, "layers": ["block2", "block7"], "snapshots": [0, 4, 8, 16]}
# Comparable depths: the end of the 2nd, 4th and 6th of the seven stages every model in the zoo has.
DEPTHS = {"early": 1, "middle": 3, "late": 5}
DEPTHS_QUICK = {"early": 1, "late": 5}


def shared_run(config: FigureConfig, model: Model, photo: str, layers: tuple[str, ...] | list[str], *,
               steps: int, tally: Tally | None = None, **settings) -> dict[str, np.ndarray]:
    """Return `caricature_run(...)`, computed once even when two build workers ask for it at the same time."""
    ident = json.dumps([model.name, model.weights, model.meta.get("seed"), photo, list(layers), steps,
                        config.device, config.seed, sorted((k, repr(v)) for k, v in settings.items())])
    lock = config.cache_dir / "memo" / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f, _flock(f):
        return caricature_run(config, model, photo, tuple(layers), steps=steps, tally=tally, **settings)


@contextlib.contextmanager
def _flock(f):
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)


def core_run(config: FigureConfig, spec: FigureSpec, photo: str, tally: Tally | None = None) -> dict:
    """Return the core Lite0 run of `photo` at the core layers with the settings in spec.params["core"]."""
    core = spec.params["core"]
    return shared_run(config, model_for(LITE0), photo, core["layers"], steps=core["steps"], tally=tally,
                      size=core["size"], lr=core["lr"])


def study_run(config: FigureConfig, spec: FigureSpec, photo: str, tally: Tally | None = None) -> dict:
    """Return the convergence-study run of `photo` (settings in spec.params["study"]), with snapshots."""
    study = spec.params["study"]
    return shared_run(config, model_for(LITE0), photo, study["layers"], steps=study["steps"], tally=tally,
                      size=study["size"], lr=study["lr"], snapshots=tuple(study["snapshots"]))


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
