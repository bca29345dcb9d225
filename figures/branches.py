"""Figure `branches` (section "Broken settings"): in a residual block the output is input + branch; the
caricature of the residual branch alone beside those of the block's input (the previous block's output)
and of its output, at three residual blocks of Lite0.

Reproduce: python build.py --only branches   (alone: python -m figures.branches [--quick])

The block outputs are the core Lite0 runs (cache); branch and input are two further joint runs per photo.
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.images import load_photo
from caricatures.metrics import compare
from figures._common import COMPARE, model_for, models_note, one, photo_key, photo_label, ref
from figures._runs import (
    CORE,
    CORE_QUICK,
    DEPTHS,
    DEPTHS_QUICK,
    LITE0,
    core_result,
    core_run,
    depth_layers,
    pretty,
)
from sitegen.contract import ROOT, FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

LABELS = {"input": "block input (skip)", "branch": "residual branch", "output": "block output"}
SPEC = FigureSpec(
    id="branches", title="A residual branch on its own", view="compare", layout="l-page",
    inputs=COMPARE[:3], models=(LITE0,), steps=CORE["steps"], params={"core": CORE, "depths": DEPTHS},
    caption="Side by side, the caricatures of a residual block's input (what the skip connection carries), of "
            "its branch alone, and of its output, the sum of the two. Pick a photo and a block.",
    quick={"inputs": COMPARE[:1], "steps": CORE_QUICK["steps"], "params": {"core": CORE_QUICK,
                                                                           "depths": DEPTHS_QUICK}})


def block_input(model, name: str) -> str:
    """Return the layer that feeds block `name` (the previous block, or the stem)."""
    stages = [n for n, lay in model.layers.items() if lay.module is None]
    return stages[stages.index(name) - 1]


@torch.no_grad()
def branch_share(model, path: str, block: str, size: int) -> dict[str, float]:
    """Return ‖branch‖/‖output‖ and cos(branch, output) of the photo's activations at a residual block."""
    acts = model.activations(load_photo(ROOT / path, size)[None], [f"{block}.branch", block])
    b, o = acts[f"{block}.branch"][0], acts[block][0]
    return {"norm_ratio": float(b.norm() / o.norm()), "cosine": compare(b, o)["cosine"]}


def _names(spec: FigureSpec) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Return the blocks by depth and, for "input" and "branch", the layers caricatured at them."""
    model = model_for(LITE0)
    blocks = depth_layers(model, spec.params["depths"])
    return blocks, {"input": [block_input(model, b) for b in blocks.values()],
                    "branch": [f"{b}.branch" for b in blocks.values()]}


def _run(spec: FigureSpec, layers: list[str]) -> Run:
    """Return the run of all the figure's photos in one batch at `layers`."""
    core = spec.params["core"]
    return caricature(ref(LITE0), spec.inputs, layers, steps=spec.steps, size=core["size"], lr=core["lr"],
                      seed=spec.seed)


def runs(spec: FigureSpec) -> list[Run]:
    """Return the input and branch batches and the core runs (the block outputs)."""
    _, names = _names(spec)
    return [_run(spec, layers) for layers in names.values()] + [core_run(spec, p)[0] for p in spec.inputs]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return photo × block cells with input, branch and output caricatures."""
    model, core = model_for(LITE0), spec.params["core"]
    blocks, names = _names(spec)
    photos, cars, cells, share = {}, {}, {}, {d: [] for d in blocks}
    for path in spec.inputs:
        key = photo_key(path)
        runs = {k: (range(len(blocks)), one(config, _run(spec, names[k]), spec.inputs.index(path))) for k in names}
        runs["output"] = ([core["layers"].index(b) for b in blocks.values()], core_result(config, spec, path))
        photos[f"photo/{key}"] = runs["output"][1]["original"]
        for k, (idx, run) in runs.items():
            for j, (i, d) in enumerate(zip(idx, blocks)):
                layer = blocks[d] if k == "output" else names[k][j]
                cars[f"{key}/{d}/{k}"] = run["images"][i]
                cells.setdefault(key, {}).setdefault(d, {})[k] = {
                    "tile": f"{key}/{d}/{k}", "label": pretty(layer),
                    "metrics": {"cosine": run["cosine"][i], "gain": run["gain"][i]}}
        for d, b in blocks.items():
            share[d].append(branch_share(model, path, b, core["size"]))
    metrics = {"photos": len(spec.inputs), "size": core["size"], "steps": spec.steps, "blocks": blocks,
               "norm_ratio": {d: float(np.mean([s["norm_ratio"] for s in v])) for d, v in share.items()},
               "branch_output_cosine": {d: float(np.mean([s["cosine"] for s in v])) for d, v in share.items()},
               "cosine": {k: {d: float(np.mean([cells[ph][d][k]["metrics"]["cosine"] for ph in cells]))
                              for d in blocks} for k in LABELS}}
    data = {"option_label": "Activation", "layer_label": "Block", "arrange": "row",
            "options": [{"key": k, "label": v} for k, v in LABELS.items()],
            "photos": [{"key": photo_key(x), "label": photo_label(x), "photo": f"photo/{photo_key(x)}"}
                       for x in spec.inputs],
            "layers": [{"key": d, "label": pretty(b)} for d, b in blocks.items()],
            "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"}],
            "initial": {"photo": photo_key(spec.inputs[0]), "layer": list(blocks)[-1], "option": "branch"}}
    return FigureResult(tiles={"photos": photos, "caricatures": cars}, data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": {**core, "blocks": blocks,
                                                                          "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
