"""Figure `training_drift` (section "The effect of the training data"): how far each layer of Lite0 drifts from
its ImageNet self while it is fine-tuned on Fashion-MNIST or on dead leaves — linear CKA between the ImageNet
and the fine-tuned activations over every photo of the article, per layer and checkpoint — and the accuracy
each checkpoint reaches on its new task's test split.

Reproduce: python build.py --only training_drift   (alone: python -m generate.figures.training_drift [--quick])

The fine-tune runs are those of the figure `training_data` (same settings, the same run keys).
"""
from __future__ import annotations

import numpy as np
import torch

from generate.figure import FigureConfig, FigureResult, FigureSpec, run_standalone
from generate.figures._common import all_photos, model_for, models_note
from generate.figures._runs import CORE, CORE_QUICK, LITE0, pretty, short_label
from generate.figures.training_data import DATASET_LABELS, FT, FT_QUICK, finetune_runs
from generate.files import ROOT
from generate.finetune import checkpoint_model
from generate.images import load_photo
from generate.metrics import linear_cka
from generate.runs import Run

SPEC = FigureSpec(
    id="training_drift", title="How far each layer drifts from ImageNet while it learns a new task", view="chart",
    layout="l-body", inputs=all_photos(), models=(LITE0,), layers=tuple(CORE["layers"]),
    params={"core": CORE, "ft": FT},
    caption="Linear CKA between Lite0's activations before (ImageNet) and after fine-tuning, over every photo of "
            "this article, at each layer (left to right: early to late) and checkpoint; 1 means the layer still "
            "represents the photos as it did. Hover or tab to a point for its value and the checkpoint's test "
            "accuracy.",
    quick={"inputs": all_photos()[:6], "layers": tuple(CORE_QUICK["layers"]),
           "params": {"core": CORE_QUICK, "ft": FT_QUICK}})


def runs(spec: FigureSpec) -> list[Run]:
    """Return the fine-tune runs (their checkpoints are all this figure reads)."""
    return list(finetune_runs(spec.params["ft"]).values())


def photo_batch(spec: FigureSpec) -> torch.Tensor:
    """Return the photos CKA is measured over (spec.inputs: all of the article's), at the core size."""
    return torch.stack([load_photo(ROOT / p, spec.params["core"]["size"]) for p in spec.inputs])


@torch.no_grad()
def activations(model, images: torch.Tensor, layers: list[str], chunk: int = 16) -> dict[str, np.ndarray]:
    """Return each layer's activations of `images`, flattened per image (n, C·H·W), float64."""
    parts: dict[str, list[np.ndarray]] = {n: [] for n in layers}
    for i in range(0, len(images), chunk):
        acts = model.activations(images[i:i + chunk], layers)
        for n in layers:
            parts[n].append(acts[n].flatten(1).double().numpy())
    return {n: np.concatenate(v) for n, v in parts.items()}


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return one chart panel: CKA to ImageNet per layer, one line per data set and checkpoint."""
    ft, layers = spec.params["ft"], list(spec.layers)
    images = photo_batch(spec)
    base = activations(model_for(LITE0), images, layers)
    series, metrics = [], {"photos": len(images), "layers": layers, "cka": {}, "accuracy": {}, "seconds": {},
                           "loss_first": {}, "loss_last": {}, "datasets": {}, "checkpoints": ft["checkpoints"],
                           "steps": ft["steps"], "batch": ft["batch"], "lr": ft["lr"], "size": ft["size"],
                           "test": ft["test"], "images_seen": ft["steps"] * ft["batch"]}
    for dataset, run in finetune_runs(ft).items():
        arrays, name = config.result(run), dataset.replace("-", "_")
        label = DATASET_LABELS[dataset]
        metrics["datasets"][name] = label
        acc = dict(zip(arrays["checkpoint_steps"].tolist(), arrays["accuracy"].tolist()))
        metrics["accuracy"][name] = {f"s{s}": a for s, a in acc.items()}
        metrics["loss_first"][name] = float(arrays["loss"][:10].mean())
        metrics["loss_last"][name] = float(arrays["loss"][-10:].mean())
        metrics["seconds"][name] = next(u["provenance"]["seconds"] for u in config.used.values()
                                        if u["run"].get("kind") == "finetune" and u["run"].get("dataset") == dataset)
        metrics["cka"][name] = {}
        for step in [s for s in ft["checkpoints"] if s > 0]:
            acts = activations(checkpoint_model(LITE0, arrays, step), images, layers)
            cka = {n: linear_cka(base[n], acts[n]) for n in layers}
            metrics["cka"][name][f"s{step}"] = cka
            tip = f"{label}, step {step} (test accuracy {acc[step]:.1%}): CKA at"
            series.append({"key": f"{dataset}-{step}", "label": f"{label} · step {step}", "kind": "line",
                           "points": [[n, round(v, 4), f"{tip} {pretty(n)}"] for n, v in cka.items()]})
    for name, by_step in metrics["cka"].items():
        last = by_step[f"s{ft['steps']}"]
        metrics[f"{name}_lowest_layer"] = min(last, key=last.get)
        metrics[f"{name}_lowest"] = min(last.values())
    data = {"x": {"label": "layer", "scale": "category",
                  "categories": [{"key": n, "label": short_label(n)} for n in layers]},
            "panels": [{"y": {"label": "CKA to the ImageNet network", "format": ".3f", "max": 1},
                        "series": series}],
            "panel_height": 220}
    return FigureResult(data=data, metrics=metrics,
                        notes={"models": models_note(model_for(LITE0)), "settings": {"ft": ft, "photos": len(images),
                                                                                    "size": spec.params["core"]["size"]}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
