"""Figure `preprocessing` (section "Broken settings"): the same network fed the wrong preprocessing —
ImageNet mean/std into EfficientNet-Lite0, Lite's (255x − 127)/128 into MobileNetV2 — beside the right one.

Reproduce: python build.py --only preprocessing   (alone: python -m figures.preprocessing [--quick])

The right-preprocessing runs are the core Lite0 runs and the `models` figure's MobileNetV2 runs (cache).
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.images import load_photo
from figures._common import (
    COMPARE,
    model_for,
    models_note,
    one,
    photo_key,
    photo_label,
    ref,
)
from figures._measures import image_metrics
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
    pretty,
    set_run,
)
from sitegen.contract import ROOT, FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

MNV2 = "mobilenet_v2"
WRONG = {LITE0: "imagenet-mean-std", MNV2: "lite-255x-127"}   # each network fed the other's preprocessing
LABELS = {"lite0": "Lite0", "lite0-wrong": "Lite0 · mean/std", "mnv2": "MobileNetV2",
          "mnv2-wrong": "MobileNetV2 · (255x−127)/128"}
SPEC = FigureSpec(
    id="preprocessing", title="The wrong preprocessing", view="compare", layout="l-page",
    inputs=COMPARE[:3], models=(LITE0, MNV2), steps=CORE["steps"],
    params={"core": CORE, "set": MODEL_SET, "depths": DEPTHS, "wrong": WRONG},
    caption="Each network with its own preprocessing and with the other's, side by side. *in right* is the "
            "gain the caricature reaches in the correctly fed network, in units of that network's own caricature.",
    quick={"inputs": COMPARE[:1], "steps": CORE_QUICK["steps"],
           "params": {"core": CORE_QUICK, "set": MODEL_SET_QUICK, "depths": DEPTHS_QUICK}})


@torch.no_grad()
def top1(model, path: str, size: int) -> tuple[int, float]:
    """Return the model's top class and its probability for the photo."""
    prob = model.activations(load_photo(ROOT / path, size)[None], ["logits"])["logits"].softmax(-1)[0]
    return int(prob.argmax()), float(prob.max())


def _refs() -> dict:
    """Return {option: ModelRef}: both networks, right and wrong preprocessing."""
    right = {"lite0": ref(LITE0), "mnv2": ref(MNV2)}
    return {**right, **{f"{k}-wrong": ref(r.name, preprocess=WRONG[r.name]) for k, r in right.items()}}


def _wrong_run(spec: FigureSpec, model) -> Run:
    """Return the run of all the figure's photos in one batch through a wrongly fed network."""
    layers = depth_layers(model.load(), spec.params["depths"])
    core = spec.params["core"]
    return caricature(model, spec.inputs, list(layers.values()), steps=spec.steps, size=core["size"],
                      lr=core["lr"], seed=spec.seed)


def runs(spec: FigureSpec) -> list[Run]:
    """Return the wrong-preprocessing batches, the `models` figure's MobileNetV2 runs and the core runs."""
    refs, layers = _refs(), depth_layers(model_for(MNV2), spec.params["depths"])
    return ([_wrong_run(spec, refs[k]) for k in ("mnv2-wrong", "lite0-wrong")] +
            [set_run(spec, refs["mnv2"], path, list(layers.values()))[0] for path in spec.inputs] +
            [core_run(spec, path)[0] for path in spec.inputs])


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return photo × depth cells with right and wrong preprocessing for both networks."""
    p, core = spec.params, spec.params["core"]
    refs = _refs()
    models = {k: r.load() for k, r in refs.items()}
    right = {k: models[k] for k in ("lite0", "mnv2")}
    wrong = {k: m for k, m in models.items() if k.endswith("-wrong")}
    layers = {k: depth_layers(m, p["depths"]) for k, m in models.items()}
    photos, cars, cells, rel, kept = {}, {}, {}, {k: [] for k in models}, {k: [] for k in wrong}
    for path in spec.inputs:
        key, runs = photo_key(path), {}
        for k in ("mnv2-wrong", "lite0-wrong"):   # all photos of the figure in one batch per network
            runs[k] = (range(len(p["depths"])), one(config, _wrong_run(spec, refs[k]), spec.inputs.index(path)))
        runs["mnv2"] = (range(len(p["depths"])), one(config, *set_run(spec, refs["mnv2"], path,   # `models`' runs
                                                                      list(layers["mnv2"].values()))))
        idx = [core["layers"].index(n) for n in layers["lite0"].values()]
        runs["lite0"] = (idx, core_result(config, spec, path))
        photos[f"photo/{key}"] = runs["lite0"][1]["original"]
        for k, (idx, run) in runs.items():
            for i, d in zip(idx, p["depths"]):
                cars[f"{key}/{d}/{k}"] = run["images"][i]
                cells.setdefault(key, {}).setdefault(d, {})[k] = {
                    "tile": f"{key}/{d}/{k}", "label": pretty(layers[k][d]),
                    "metrics": {"cosine": run["cosine"][i], "gain": run["gain"][i]}}
        for k, net in right.items():   # both caricatures of a network seen by its correctly fed self
            for d in p["depths"]:
                pair = np.stack([cars[f"{key}/{d}/{k}"], cars[f"{key}/{d}/{k}-wrong"]])
                g = [m["gain"] for m in image_metrics(net, photos[f"photo/{key}"], pair, [layers[k][d]] * 2)]
                for kk, v in zip((k, f"{k}-wrong"), (1.0, g[1] / g[0])):
                    cells[key][d][kk]["metrics"]["in_right"] = v
                    rel[kk].append(v)
            kept[f"{k}-wrong"].append(top1(net, path, 224)[0] == top1(wrong[f"{k}-wrong"], path, 224)[0])
    metrics = {"photos": len(spec.inputs), "size": core["size"], "steps": spec.steps,
               "in_right": {k: float(np.mean(v)) for k, v in rel.items()},
               "top1_kept": {k: int(sum(v)) for k, v in kept.items()},
               "gain": {k: float(np.mean([cells[ph][d][k]["metrics"]["gain"] for ph in cells for d in p["depths"]]))
                        for k in models},
               "cosine": {k: float(np.mean([cells[ph][d][k]["metrics"]["cosine"] for ph in cells
                                            for d in p["depths"]])) for k in models},
               "cosine_by_depth": {k: {d: float(np.mean([cells[ph][d][k]["metrics"]["cosine"] for ph in cells]))
                                       for d in p["depths"]} for k in models},
               # how much less the wrong preprocessing's caricatures point the photo's way, at the late depth
               "late_cosine_drop": {k: float(np.mean([cells[ph]["late"][k]["metrics"]["cosine"]
                                                      - cells[ph]["late"][f"{k}-wrong"]["metrics"]["cosine"]
                                                      for ph in cells])) for k in right},
               "in_right_by_depth": {k: {d: float(np.mean([cells[ph][d][k]["metrics"]["in_right"] for ph in cells]))
                                         for d in p["depths"]} for k in models}}
    data = {"option_label": "Network · preprocessing", "layer_label": "Depth", "arrange": "row",
            "options": [{"key": k, "label": LABELS[k]} for k in ("lite0", "lite0-wrong", "mnv2", "mnv2-wrong")],
            "photos": [{"key": photo_key(x), "label": photo_label(x), "photo": f"photo/{photo_key(x)}"}
                       for x in spec.inputs],
            "layers": [{"key": d, "label": f"{d} (end of stage {i + 1})"} for d, i in p["depths"].items()],
            "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"},
                            {"key": "in_right", "label": "in right", "format": ".2f", "suffix": "×"}],
            "initial": {"photo": photo_key(spec.inputs[0]), "layer": list(p["depths"])[-1],
                        "option": "lite0-wrong"}}
    return FigureResult(tiles={"photos": photos, "caricatures": cars}, data=data, metrics=metrics,
                        notes={"models": models_note(*right.values()),
                               "settings": {**core, "depths": p["depths"], "wrong": p["wrong"], "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
