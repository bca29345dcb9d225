"""Figure `models` (section "Across models"): caricatures of the same photos at comparable depths of
EfficientNet-Lite0, Lite1, Lite2, MobileNetV2 and a randomly initialized Lite0 (caricatured with the
scale-invariant dot_compare_scaled; its plain-dot runs give the text's comparison), plus a cross-model measure:
each caricature re-evaluated in every other model at that model's comparable layer.

Reproduce: python build.py --only models   (alone: python -m figures.models [--quick])

Every model is optimized at the same 224 px (the core settings); Lite0's column is the core run of
`in_context`, taken from the build cache.
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.images import load_photo
from figures._common import model_for, models_note, one, photo_key, photo_label, ref
from figures._measures import ADAM_EPS, image_metrics, relative_gains
from figures._runs import (
    CORE,
    CORE_QUICK,
    DEPTHS,
    DEPTHS_QUICK,
    LITE0,
    MODEL_SET,
    MODEL_SET_QUICK,
    core_result,
    core_run,
    depth_layers,
    layer_label,
    pretty,
    set_run,
)
from sitegen.contract import ROOT, FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run

OPTIONS = (("lite0", LITE0, "imagenet"), ("lite1", "efficientnet_lite1", "imagenet"),
           ("lite2", "efficientnet_lite2", "imagenet"), ("mnv2", "mobilenet_v2", "imagenet"),
           ("random", LITE0, "random"))
# Random weights shrink the activations block by block until lucid's dot gives Adam a gradient below its ε (the
# caricature stays at its grey start): the random network's caricatures use the scale-invariant objective.
OBJECTIVE = {"random": "dot_compare_scaled"}
LABELS = {"lite0": "Lite0", "lite1": "Lite1", "lite2": "Lite2", "mnv2": "MobileNetV2", "random": "Lite0 random"}
SHORT = {"mnv2": "MNV2", "random": "random"}
GROUPS = {"lite_family": "Lite sizes among themselves", "lite_mnv2": "Lite ↔ MobileNetV2",
          "random_in_trained": "random → trained"}

SPEC = FigureSpec(
    id="models", title="The same photos through five networks", view="compare", layout="l-page",
    inputs=tuple(MODEL_SET["photos"]), models=tuple(dict.fromkeys(m for _, m, _ in OPTIONS)), steps=CORE["steps"],
    params={"core": CORE, "set": MODEL_SET, "depths": DEPTHS, "options": [list(o) for o in OPTIONS]},
    caption="A photo and its caricatures by five networks side by side — three ImageNet EfficientNet-Lite "
            "sizes, MobileNetV2, and Lite0 with random weights (caricatured with the scale-invariant objective "
            "the text describes) — at the end of each network's 2nd, 4th or 6th "
            "stage. *in Lite0* is the gain the caricature reaches when Lite0 looks at it, in units of the gain "
            "of Lite0's own caricature. The table does this for every pair of networks at the chosen depth, "
            "averaged over the photos, and its last line gives the averages the text quotes.",
    quick={"inputs": tuple(MODEL_SET_QUICK["photos"]), "steps": CORE_QUICK["steps"],
           "params": {"core": CORE_QUICK, "set": MODEL_SET_QUICK, "depths": DEPTHS_QUICK}})


def _layers(spec: FigureSpec) -> dict[str, dict[str, str]]:
    """Return {option: {depth: the option's model's layer at that depth}}."""
    return {k: depth_layers(model_for(name, weights), spec.params["depths"]) for k, name, weights in
            spec.params["options"]}


def _option_runs(spec: FigureSpec, path: str) -> dict[str, tuple[Run, int] | None]:
    """Return {option: (its run of the photo's chunk, the photo's index)}; Lite0's is the core run (None)."""
    layers = _layers(spec)
    return {k: None if k == "lite0" else set_run(spec, ref(name, weights), path, list(layers[k].values()),
                                                 objective=OBJECTIVE.get(k))
            for k, name, weights in spec.params["options"]}


def _plain_random_run(spec: FigureSpec, path: str) -> tuple[Run, int]:
    """Return the random network's run of the photo's chunk with lucid's plain dot (for the text's comparison)."""
    return set_run(spec, ref(LITE0, "random"), path, list(_layers(spec)["random"].values()))


def runs(spec: FigureSpec) -> list[Run]:
    """Return the core runs (Lite0), the other networks' runs of the photos and the plain-dot random runs."""
    out = []
    for path in spec.inputs:
        out.append(core_run(spec, path)[0])
        out += [r for r, _ in filter(None, _option_runs(spec, path).values())]
        out.append(_plain_random_run(spec, path)[0])
    return out


def _results(spec, config, layers, path) -> dict[str, tuple[list[int], dict]]:
    """Return {option: (indices of the depths in the run, the photo's result)}."""
    core, out = spec.params["core"], {}
    for k, run in _option_runs(spec, path).items():
        if run is None:
            out[k] = ([core["layers"].index(n) for n in layers[k].values()], core_result(config, spec, path))
        else:
            out[k] = (list(range(len(layers[k]))), one(config, *run))
    return out


def transfer_summary(rel: np.ndarray, keys: list[str]) -> dict[str, float]:
    """Return mean relative gains [caricature model, evaluating model] over groups of model pairs."""
    lite = [i for i, k in enumerate(keys) if k.startswith("lite")]
    mnv2, rand = keys.index("mnv2"), keys.index("random")
    groups = {"lite_family": [(a, b) for a in lite for b in lite if a != b],
              "lite_mnv2": [(a, mnv2) for a in lite] + [(mnv2, b) for b in lite],
              "random_in_trained": [(rand, b) for b in [*lite, mnv2]]}
    return {name: float(np.mean([rel[a, b] for a, b in pairs])) for name, pairs in groups.items()}


@torch.no_grad()
def rms(model, paths, layer: str, size: int) -> float:
    """Return the root mean square of the photos' activations at `layer` (mean over photos)."""
    batch = torch.stack([load_photo(ROOT / x, size) for x in paths])
    return float(model.activations(batch, [layer])[layer].pow(2).flatten(1).mean(1).sqrt().mean())


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return photo × depth × model cells, and the cross-model gain matrix per depth in the metrics."""
    p = spec.params
    models = {k: model_for(name, weights) for k, name, weights in p["options"]}
    keys, depths = list(models), list(p["depths"])
    layers = _layers(spec)
    photos, cars, cells = {}, {}, {}
    gains = np.zeros((len(keys), len(keys), len(depths), len(spec.inputs)))   # [car model, eval model, d, photo]
    for j, path in enumerate(spec.inputs):
        key, runs = photo_key(path), _results(spec, config, layers, path)
        photos[f"photo/{key}"] = runs["lite0"][1]["original"]
        for k, (idx, run) in runs.items():
            for i, d in zip(idx, depths):
                cars[f"{key}/{d}/{k}"] = run["images"][i]
                cells.setdefault(key, {}).setdefault(d, {})[k] = {
                    "tile": f"{key}/{d}/{k}", "label": pretty(layers[k][d]),
                    "metrics": {"cosine": run["cosine"][i], "gain": run["gain"][i]}}
        stack = np.stack([cars[f"{key}/{d}/{k}"] for k in keys for d in depths])
        for b, kb in enumerate(keys):   # every caricature seen by model kb at kb's comparable layer
            got = image_metrics(models[kb], photos[f"photo/{key}"], stack, [layers[kb][d] for _ in keys
                                                                            for d in depths])
            gains[:, b, :, j] = np.array([m["gain"] for m in got]).reshape(len(keys), len(depths))
    rel = relative_gains(gains)   # [a, b, d, j]
    for j, path in enumerate(spec.inputs):
        for a, k in enumerate(keys):
            for di, d in enumerate(depths):
                cells[photo_key(path)][d][k]["metrics"]["in_lite0"] = rel[a, 0, di, j]
    mean = rel.mean(axis=3)
    metrics = {"photos": len(spec.inputs), "size": p["core"]["size"], "steps": spec.steps,
               "layers": {k: layers[k] for k in keys},
               "cross": {d: {ka: {kb: float(mean[a, b, di]) for b, kb in enumerate(keys)}
                             for a, ka in enumerate(keys)} for di, d in enumerate(depths)}}
    for name in ("cosine", "gain"):
        metrics[name] = {k: {d: float(np.mean([cells[ph][d][k]["metrics"][name] for ph in cells]))
                             for d in depths} for k in keys}
    metrics["transfer"] = {d: transfer_summary(mean[:, :, di], keys) for di, d in enumerate(depths)}
    metrics["rms"] = {k: {d: rms(models[k], spec.inputs, layers[k][d], p["core"]["size"]) for d in depths}
                      for k in keys}
    metrics["adam_eps"] = ADAM_EPS
    # what lucid's plain dot reaches in the random network itself (cosine and gain, mean over photos), next to
    # the scale-invariant objective's in metrics["cosine"/"gain"]["random"]
    plain = [one(config, *_plain_random_run(spec, x)) for x in spec.inputs]
    for name in ("cosine", "gain"):
        metrics[f"random_plain_{name}"] = {d: float(np.mean([r[name][i] for r in plain])) for i, d in enumerate(depths)}
    metrics["objective"] = {k: OBJECTIVE.get(k, "dot_compare") for k in keys}
    for k in OBJECTIVE:
        for d in depths:
            for ph in cells:
                cells[ph][d][k]["label"] += " · scale-invariant objective"
    matrix = {"label": f"Gain a caricature reaches in another network, in units of that network’s own "
                       f"caricature’s gain (mean over the {len(spec.inputs)} photos)",
              "row_label": "made for", "col_label": "seen by", "format": ".0%",
              "values": {d: [[float(mean[a, b, di]) for b in range(len(keys))] for a in range(len(keys))]
                         for di, d in enumerate(depths)},
              "groups": [{"label": label, "values": {d: metrics["transfer"][d][g] for d in depths}}
                         for g, label in GROUPS.items()]}
    data = {"option_label": "Network", "layer_label": "Depth", "arrange": "row", "matrix": matrix,
            "options": [{"key": k, "label": LABELS[k], "short": SHORT.get(k, LABELS[k])} for k in keys],
            "photos": [{"key": photo_key(x), "label": photo_label(x), "photo": f"photo/{photo_key(x)}"}
                       for x in spec.inputs],
            "layers": [{"key": d, "label": f"{d} (end of stage {i + 1})"} for d, i in p["depths"].items()],
            "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"},
                            {"key": "in_lite0", "label": "in Lite0", "format": ".2f", "suffix": "×"}],
            "initial": {"photo": photo_key(spec.inputs[0]), "layer": depths[len(depths) // 2], "option": "lite0"}}
    notes = {"models": models_note(*models.values()),
             "settings": {**p["core"], "depths": p["depths"], "seed": spec.seed,
                          "layer_labels": {k: {d: layer_label(models[k], n, p["core"]["size"])
                                               for d, n in layers[k].items()} for k in keys}}}
    return FigureResult(tiles={"photos": photos, "caricatures": cars}, data=data, metrics=metrics, notes=notes)


if __name__ == "__main__":
    run_standalone(SPEC, make)
