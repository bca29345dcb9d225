"""Figure `training_data` (section "The effect of the training data"): Lite0 fine-tuned from its ImageNet weights
with one recipe on two data sets — Fashion-MNIST (grey photos of clothes) and dead leaves (synthetic shapes, no
natural image at all) — and caricatures of the same photos at the core layers for each kept checkpoint.

Reproduce: python build.py --only training_data   (alone: python -m figures.training_data [--quick])

Step 0 is the ImageNet network itself, so its row is the introduction's core run; the fine-tune runs are
shared with the figure `training_drift` (CKA per layer and the test accuracies).
"""
from __future__ import annotations

from figures._common import TEASER, model_for, models_note, one, photo_key, photo_label
from figures._runs import CORE, CORE_QUICK, LITE0, core_result, core_run, layer_label, short_label
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.finetune import checkpoint_sha256
from sitegen.runs import Run, caricature, finetune, finetuned

# The recipe (sitegen/finetune.py): 600 SGD steps of 32 images at 64 px. `shown`: the checkpoints whose
# caricatures the grid shows (step 0 is the ImageNet network); CKA uses every checkpoint.
FT = {"model": LITE0, "datasets": ["fashion-mnist", "dead-leaves"], "steps": 600, "batch": 32, "lr": 0.002,
      "size": 64, "seed": 0, "checkpoints": [0, 25, 100, 600], "test": 2000, "shown": [100, 600]}
FT_QUICK = {"model": LITE0, "datasets": ["fashion-mnist", "dead-leaves"], "steps": 4, "batch": 4, "lr": 0.002,
            "size": 32, "seed": 0, "checkpoints": [0, 2, 4], "test": 20, "shown": [4]}
DATASET_LABELS = {"fashion-mnist": "Fashion-MNIST", "dead-leaves": "dead leaves"}
SHORT = {None: "ImageNet", "fashion-mnist": "F-MNIST", "dead-leaves": "leaves"}     # row tags in the grid

SPEC = FigureSpec(
    id="training_data", title="Caricatures of a network fine-tuned on clothes or on shapes", view="grid",
    layout="l-page", inputs=TEASER[:3], models=(LITE0,), layers=tuple(CORE["layers"]), steps=CORE["steps"],
    params={"core": CORE, "ft": FT},
    caption="Each row is a photo seen by Lite0 at one checkpoint, named beside it: its ImageNet weights, then "
            "checkpoints of fine-tuning on Fashion-MNIST (F-MNIST) or on dead leaves (the number is the step); "
            "each column a layer, early (left) to late (right). Hover or tap a cell to see the caricature large "
            "beside its photo.",
    quick={"inputs": TEASER[:1], "layers": tuple(CORE_QUICK["layers"]), "steps": CORE_QUICK["steps"],
           "params": {"core": CORE_QUICK, "ft": FT_QUICK}})


def finetune_runs(ft: dict) -> dict[str, Run]:
    """Return the fine-tune run of each data set of the settings `ft`."""
    return {d: finetune(ft["model"], d, steps=ft["steps"], batch=ft["batch"], lr=ft["lr"], size=ft["size"],
                        seed=ft["seed"], checkpoints=ft["checkpoints"], test=ft["test"]) for d in ft["datasets"]}


def checkpoint_runs(spec: FigureSpec) -> dict[tuple[str, int], Run]:
    """Return the caricature run of spec.inputs at the core settings for each data set and shown checkpoint."""
    core, ft = spec.params["core"], spec.params["ft"]
    return {(d, step): caricature(finetuned(run, step), spec.inputs, core["layers"], steps=core["steps"],
                                  size=core["size"], lr=core["lr"], seed=spec.seed)
            for d, run in finetune_runs(ft).items() for step in ft["shown"]}


def runs(spec: FigureSpec) -> list[Run]:
    """Return the fine-tunes, the caricatures of each shown checkpoint and the core runs (step 0)."""
    return [*finetune_runs(spec.params["ft"]).values(), *checkpoint_runs(spec).values(),
            *(core_run(spec, p)[0] for p in spec.inputs)]


def row_label(dataset: str | None, step: int) -> str:
    return "ImageNet (step 0)" if dataset is None else f"{DATASET_LABELS[dataset]} · step {step}"


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return the (photo × checkpoint) × layers grid of caricatures with cosine and gain per cell."""
    core = spec.params["core"]
    by_ckpt = checkpoint_runs(spec)
    photos, cars, rows, cells = {}, {}, [], {}
    for i, path in enumerate(spec.inputs):
        key = photo_key(path)
        versions = [(None, 0, core_result(config, spec, path))]
        versions += [(d, s, one(config, run, i)) for (d, s), run in by_ckpt.items()]
        photos[f"photo/{key}"] = versions[0][2]["original"]
        for dataset, step, result in versions:
            row = f"{key}-{dataset or 'imagenet'}-{step}"
            rows.append({"key": row, "label": f"{photo_label(path)} · {row_label(dataset, step)}",
                         "short": SHORT[dataset] + (f" {step}" if dataset else ""), "photo": f"photo/{key}"})
            for j, layer in enumerate(core["layers"]):
                cars[f"{row}/{layer}"] = result["images"][j]
                cells.setdefault(row, {})[layer] = {"tile": f"{row}/{layer}", "metrics": {
                    "cosine": float(result["cosine"][j]), "gain": float(result["gain"][j])}}
    model = model_for(LITE0)
    cols = [{"key": n, "label": layer_label(model, n, core["size"]), "short": short_label(n)}
            for n in core["layers"]]
    ft = spec.params["ft"]
    data = {"rows": rows, "cols": cols, "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"}],
            "initial": {"row": rows[-1]["key"], "col": core["layers"][len(core["layers"]) // 2]},
            "label": f"Caricatures of {len(spec.inputs)} photo(s) at {len(cols)} layers of Lite0, at step 0 and "
                     f"after fine-tuning on {' or '.join(DATASET_LABELS[d] for d in ft['datasets'])}"}
    metrics = {"photos": len(spec.inputs), "photo_names": [photo_label(p) for p in spec.inputs],
               "layers": list(core["layers"]), "datasets": [DATASET_LABELS[d] for d in ft["datasets"]],
               "shown": ft["shown"], "size": core["size"], "steps": core["steps"]}
    for (d, s) in by_ckpt:
        for j, layer in enumerate(core["layers"]):
            values = [cells[f"{photo_key(p)}-{d}-{s}"][layer]["metrics"]["cosine"] for p in spec.inputs]
            metrics[f"cosine_{d.replace('-', '_')}_{s}_{layer}"] = sum(values) / len(values)
    weights = models_note(model)
    for (d, s), run in by_ckpt.items():   # each checkpoint's digest, as its caricature runs' keys hold it
        weights[f"{LITE0} (finetune:{d}@{s})"] = checkpoint_sha256(config.result(run.model.finetune), s)
    return FigureResult(tiles={"photos": photos, "caricatures": cars}, data=data, metrics=metrics,
                        notes={"models": weights, "settings": {**core, "seed": spec.seed, "ft": ft}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
