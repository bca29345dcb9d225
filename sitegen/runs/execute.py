"""Executing runs: a run's arrays and provenance, computed here (the build's executors call this in workers).

    arrays, provenance = execute(run, where)        # what the figure scripts read back
    photo_view(arrays, i)                           # photo i's slice of a caricature run

`execute_pack` computes caricature runs that share everything but their photos as one batch.
"""
from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

import caricatures
from caricatures.files import to_uint8
from caricatures.runtime import MALLOC_ENV
from sitegen import ROOT
from sitegen.runs.run import Run, Where, caricature_settings, pack_key, parse_target

WorkProgress = Callable[[int], None]   # called with the work (caricature-steps, Run.work) done so far


def execute(run: Run, where: Where, progress: WorkProgress | None = None, groups: Sequence[int] | None = None
            ) -> tuple[dict[str, np.ndarray], dict]:
    """Compute a run; return its arrays and its provenance (host, node, device, precision, threads, seconds).
    `groups`: for a caricature run that packs several runs' photos (see `execute_pack`)."""
    import torch
    if where.device == "cpu":
        torch.set_num_threads(where.threads)
    t0 = time.perf_counter()
    arrays = (_caricatures(run, where, progress, groups) if groups else _KIND_FNS[run.kind](run, where, progress))
    prov = {"host": socket.gethostname(), "node": _node_id(), "pid": os.getpid(), **where.describe(),
            "device_name": device_name(where.device), "seconds": round(time.perf_counter() - t0, 3),
            "malloc_tuned": all(k in os.environ for k in MALLOC_ENV),
            "engine_version": caricatures.ENGINE_VERSION, "torch": torch.__version__}
    return arrays, prov


def _node_id() -> str | None:
    try:
        import ray
        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except ImportError:
        return None


def device_name(device: str) -> str:
    if device == "cuda":
        import torch
        return torch.cuda.getdevice_name()
    return cpu_name()


@cache
def cpu_name() -> str:
    """Return the processor's model name (what `lscpu` calls it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _callback(run: Run, progress: WorkProgress | None):
    if progress is None:
        return None
    return lambda step, _steps, _value: progress(step * run.rows)


def _caricatures(run: Run, where: Where, progress: WorkProgress | None, groups: Sequence[int] | None = None
                 ) -> dict[str, np.ndarray]:
    from caricatures.images import load_photo
    from caricatures.make import make_caricatures
    o, model = run.options, run.model.load()
    size = o.get("size") or model.input_size
    result = make_caricatures(model, [load_photo(ROOT / p, size) for p in run.photos], list(run.layers),
                              caricature_settings(run.steps, o), device=where.device, precision=where.precision,
                              progress=_callback(run, progress), groups=groups)
    out = {"images": to_uint8(result.images), "original": to_uint8(result.originals),
           "history": result.history.astype(np.float32)}
    for name in ("cosine", "gain", "objective"):
        out[name] = np.array([[m[name] for m in row] for row in result.metrics], dtype=np.float64)
    if result.snapshots:
        steps = sorted(result.snapshots)
        out["snapshot_steps"] = np.array(steps)
        out["snapshots"] = np.stack([to_uint8(result.snapshots[s]) for s in steps])
    if result.attributions:   # maps differ in size across layers: one array per layer
        for i, name in enumerate(run.layers):
            out[f"attribution_map_{i}"] = result.attributions[name].astype(np.float32)
    return out


def _finetune(run: Run, where: Where, progress: WorkProgress | None) -> dict[str, np.ndarray]:
    from sitegen.finetune import finetune as train
    o = run.options
    return train(run.model.name, o["dataset"], steps=run.steps, batch=o["batch"], lr=o["lr"], size=o["size"],
                 seed=o["seed"], checkpoints=o["checkpoints"], test=o["test"], progress=progress,
                 device=where.device)


def _channel(run: Run, where: Where, progress: WorkProgress | None) -> dict[str, np.ndarray]:
    from caricatures.make import visualize_channel
    o, model = dict(run.options), run.model.load()
    channel_ = o.pop("channel")
    if "position" in o:
        o["position"] = tuple(o["position"])
    result = visualize_channel(model, run.layers[0], channel_, steps=run.steps, device=where.device,
                               precision=where.precision, progress=_callback(run, progress), **o)
    return {"images": to_uint8(result.images), "objective": np.array(result.objective, dtype=np.float64)}


def _attribution(run: Run, where: Where, progress: WorkProgress | None) -> dict[str, np.ndarray]:
    from caricatures.attribution import attribute, attribution_map, iterated_attribution
    from caricatures.images import load_photo
    from caricatures.prepare import prepare_model
    o, model = run.options, run.model.load()
    image = load_photo(ROOT / run.photos[0], o.get("size") or model.input_size)
    exact = prepare_model(model, where.device, "fp32")
    target = parse_target(o["target"])
    attrs = (iterated_attribution(exact, image.to(where.device), run.layers, target) if o.get("iterate")
             else attribute(exact, image.to(where.device), run.layers, target))
    return {n: attribution_map(attrs[n]).cpu().numpy().astype(np.float32) for n in run.layers}


_KIND_FNS = {"caricature": _caricatures, "channel": _channel, "attribution": _attribution, "finetune": _finetune}


def execute_pack(runs: Sequence[Run], where: Where, progress: WorkProgress | None = None
                 ) -> list[tuple[dict[str, np.ndarray], dict]]:
    """Compute caricature runs that share model, layers, steps and settings as one batch of all their photos;
    return each run's arrays and provenance, as `execute` would (each run's random start is its own)."""
    if len(runs) == 1:
        return [execute(runs[0], where, progress)]
    if len({pack_key(r) for r in runs}) != 1 or pack_key(runs[0]) is None:
        raise ValueError("only caricature runs of the same model, layers, steps and settings can be packed")
    first = runs[0]
    packed = Run(first.kind, first.model, tuple(p for r in runs for p in r.photos), first.layers, first.steps,
                 first.settings)
    arrays, prov = execute(packed, where, progress, groups=[len(r.photos) for r in runs])
    out, start = [], 0
    for r in runs:
        part = slice(start, start + len(r.photos))
        start += len(r.photos)
        out.append(({k: _photo_part(k, v, part) for k, v in arrays.items()}, {**prov, "packed_runs": len(runs)}))
    return out


def _photo_part(name: str, array: np.ndarray, part: slice) -> np.ndarray:
    """Return the photos `part` of one array of a caricature run (the photo axis is 1 for the per-step ones)."""
    if name == "snapshot_steps":
        return array
    return array[:, part] if name in ("history", "snapshots") else array[part]


def photo_view(arrays: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Return photo i's slice of a caricature run: images (L, S, S, 3), original, cosine/gain/objective (L,),
    history (steps, L), snapshots (K, L, S, S, 3) and attribution_map_<l> (H, W) when present."""
    out = {k: arrays[k][i] for k in ("images", "original", "cosine", "gain", "objective")}
    out["history"] = arrays["history"][:, i]
    if "snapshots" in arrays:
        out["snapshots"], out["snapshot_steps"] = arrays["snapshots"][:, i], arrays["snapshot_steps"]
    out.update({k: v[i] for k, v in arrays.items() if k.startswith("attribution_map_")})
    return out
