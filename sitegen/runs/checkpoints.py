"""Fine-tuned checkpoints: the models of a finetune run's steps, and getting their weights to a worker.

A run may use a fine-tuned checkpoint: `ModelRef(name, "finetune", finetune=<the finetune run>, checkpoint=step)`,
made by `finetuned(run, step)`. Its key holds the checkpoint's SHA-256, read from the parent's stored result, so it
is known only once the parent is computed: `run_key(run, where, store)` resolves it (`resolve`), and raises
ParentPending before. Local workers read the checkpoint from this machine's run cache; the Ray executor sends its
arrays with the job (`checkpoint_arrays` here, `ship` there), so a node needs no shared file system.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from sitegen.runs.run import ModelRef, ParentPending, Run, Where, run_key, weights_sha256
from sitegen.runs.store import RunStore


def finetuned(run: Run, step: int) -> ModelRef:
    """Return the ModelRef of checkpoint `step` of a finetune run (unresolved: see `resolve`)."""
    if run.kind != "finetune":
        raise ValueError(f"not a finetune run: {run}")
    if step not in run.options["checkpoints"]:
        raise ValueError(f"step {step} is not a checkpoint of {run}; checkpoints: {run.options['checkpoints']}")
    return ModelRef(run.model.name, "finetune", finetune=run, checkpoint=step)


def resolve(run: Run, where: Where, store) -> Run:
    """Return `run` with its fine-tuned model's checkpoint located in `store` (a RunStore) and its digest read;
    raise ParentPending when the parent's result is not there. Other runs come back as they are."""
    ref = run.model
    if ref.finetune is None or ref.stored is not None:
        return run
    key = run_key(ref.finetune, where)
    digest = _checkpoint_digest(str(store.root), key, ref.name, ref.checkpoint) if store.has(key) else None
    if digest is None:
        raise ParentPending(ref.finetune)
    return dataclasses.replace(run, model=dataclasses.replace(ref, stored=(str(store.root), key, digest)))


@cache
def _checkpoint_digest(root: str, key: str, name: str, step: int) -> str | None:
    got = RunStore(Path(root)).get(key)
    return None if got is None else _step_sha256(got[0], name, step)


def _step_sha256(arrays: dict[str, np.ndarray], name: str, step: int) -> str:
    """Return checkpoint `step`'s digest; step 0 is the ImageNet network itself (its file's digest)."""
    from sitegen.finetune import checkpoint_sha256
    return weights_sha256(name, "imagenet") if step == 0 else checkpoint_sha256(arrays, step)


SHIPPED: dict[str, dict[str, np.ndarray]] = {}   # parent key → checkpoint arrays sent with a job (Ray workers)


def _parent_arrays(ref: ModelRef) -> dict[str, np.ndarray]:
    """Return the stored result of a checkpoint's fine-tune run: shipped with the job, or from the run cache."""
    if ref.stored is None:
        raise ParentPending(ref.finetune)
    root, key, _ = ref.stored
    if key in SHIPPED:
        return SHIPPED[key]
    got = RunStore(Path(root)).get(key)
    if got is None:
        raise FileNotFoundError(f"fine-tuned checkpoint: the result {key[:12]} of {ref.finetune} is not in "
                                f"{root}, nor sent with the job (see `ship`)")
    return got[0]


def checkpoint_arrays(runs: Sequence[Run]) -> dict[str, dict[str, np.ndarray]]:
    """Return, per parent key, the arrays of the fine-tuned checkpoints `runs` use (read from the run cache of
    this machine), for a worker that does not see it: `ship` them there before executing the runs."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for ref in {r.model for r in runs if r.model.finetune is not None and r.model.checkpoint}:
        arrays, prefix = _parent_arrays(ref), f"w{ref.checkpoint}:"
        out.setdefault(ref.stored[1], {}).update({k: v for k, v in arrays.items() if k.startswith(prefix)})
    return out


def ship(arrays: dict[str, dict[str, np.ndarray]]) -> None:
    """Make checkpoint arrays from `checkpoint_arrays` available to this process's runs (before the store)."""
    for key, more in arrays.items():
        SHIPPED.setdefault(key, {}).update(more)


def _load_checkpoint(ref: ModelRef):
    from sitegen.finetune import checkpoint_model
    arrays = _parent_arrays(ref)
    _, key, digest = ref.stored
    if _step_sha256(arrays, ref.name, ref.checkpoint) != digest:
        raise ValueError(f"checkpoint {ref.checkpoint} of {key[:12]} changed since its digest was read")
    model = checkpoint_model(ref.name, arrays, ref.checkpoint)
    model.weights, model.weights_sha256 = ref.label, digest
    return model
