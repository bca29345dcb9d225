"""Figure `training_drift` (section "The effect of the training data"): how far each layer of Lite0 drifts from
its ImageNet self while it is fine-tuned on Fashion-MNIST or on dead leaves — linear CKA between the ImageNet
and the fine-tuned activations over every photo of the article, per layer and checkpoint — and the accuracy
each checkpoint reaches on its new task's test split.

Reproduce: python build.py --only training_drift   (alone: python -m figures.training_drift [--quick])

The fine-tune runs are those of the figure `training_data` (same settings, the same run keys).
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.images import load_photo
from caricatures.metrics import linear_cka
from figures._common import all_photos, model_for, models_note
from figures._runs import CORE, CORE_QUICK, LITE0, pretty, short_label
from figures.training_data import DATASET_LABELS, FT, FT_QUICK, finetune_runs
from sitegen import ROOT
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.datasets import LEAVES, SCALES
from sitegen.finetune import checkpoint_model
from sitegen.runs import Run

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


def summarize(cka: dict[str, dict[str, dict[str, float]]], layers: list[str], steps: list[int]) -> dict:
    """Return what the text says of the CKA table {data set: {"s<step>": {layer: CKA}}}: per data set, the drift
    (1 − CKA) at the first and the last layer at the final step, the share of the last layer's final drift
    already there at the first checkpoint (and the same for every layer), the middle layer, the first layer whose final CKA is below 0.9 (None: none is), the
    lowest final CKA and its layer; and which data set moved the last layer more."""
    out: dict = {"drift_first": {}, "drift_last": {}, "early_share": {}, "early_share_by_layer": {}, "below_90": {},
                 "lowest": {}, "lowest_layer": {}, "first_step": steps[0], "last_layer": layers[-1],
                 "first_layer": layers[0], "mid_layer": layers[len(layers) // 2]}
    for name, by_step in cka.items():
        final, first = by_step[f"s{steps[-1]}"], by_step[f"s{steps[0]}"]
        out["drift_first"][name], out["drift_last"][name] = 1 - final[layers[0]], 1 - final[layers[-1]]
        out["early_share"][name] = (1 - first[layers[-1]]) / max(1 - final[layers[-1]], 1e-12)
        out["early_share_by_layer"][name] = {n: (1 - first[n]) / max(1 - final[n], 1e-12) for n in layers}
        out["below_90"][name] = next((n for n in layers if final[n] < 0.9), None)
        out["lowest_layer"][name] = min(final, key=final.get)
        out["lowest"][name] = final[out["lowest_layer"][name]]
    out["more_drift"] = max(out["drift_last"], key=out["drift_last"].get)
    out["less_drift"] = min(out["drift_last"], key=out["drift_last"].get)
    return out


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return one chart panel: CKA to ImageNet per layer, one line per data set and checkpoint."""
    ft, layers = spec.params["ft"], list(spec.layers)
    images = photo_batch(spec)
    base = activations(model_for(LITE0), images, layers)
    series, metrics = [], {"photos": len(images), "layers": layers, "cka": {}, "accuracy": {}, "seconds": {},
                           "loss_first": {}, "loss_last": {}, "datasets": {}, "checkpoints": ft["checkpoints"],
                           "steps": ft["steps"], "batch": ft["batch"], "lr": ft["lr"], "size": ft["size"],
                           "test": ft["test"], "images_seen": ft["steps"] * ft["batch"],
                           "leaf_radius_pct": [[round(100 * a), round(100 * b)] for a, b in SCALES], "leaves": LEAVES}
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
            tip = f"test accuracy {acc[step]:.1%}"
            last = step == max(ft["checkpoints"])   # hue: the data set; lightness: the checkpoint
            series.append({"key": f"{dataset}-{step}", "label": f"{label} · step {step}", "kind": "line",
                           "color": list(ft["datasets"]).index(dataset), **({} if last else {"shade": "light"}),
                           "points": [[n, round(v, 4), tip] for n, v in cka.items()]})
    metrics.update(summarize(metrics["cka"], layers, [s for s in ft["checkpoints"] if s > 0]))
    data = {"x": {"label": "layer", "scale": "category",
                  "categories": [{"key": n, "label": pretty(n), "short": short_label(n)} for n in layers]},
            "panels": [{"y": {"label": "CKA", "format": ".3f", "tick_format": ".2f", "max": 1},
                        "series": series}],
            "panel_height": 220}
    return FigureResult(data=data, metrics=metrics,
                        notes={"models": models_note(model_for(LITE0)), "settings": {"ft": ft, "photos": len(images),
                                                                                    "size": spec.params["core"]["size"]}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
