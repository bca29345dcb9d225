"""Figure `cossim_sweep` (section "How a caricature is made"): the same caricature under lucid's
cossim_pow ∈ {0, 0.5, 1, 2} (the cosine power p of the text), at an early and a middle layer of Lite0, on two photos.

Reproduce: python build.py --only cossim_sweep   (alone: python -m figures.cossim_sweep [--quick])
"""
from __future__ import annotations

import numpy as np

from figures._common import TEASER, model_for, models_note, one, photo_key, photo_label, ref
from figures._runs import CORE, CORE_QUICK, LITE0, layer_label
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

POWS = (0.0, 0.5, 1.0, 2.0)
SPEC = FigureSpec(
    id="cossim_sweep", title="Trading gain for similarity with the cosine power p", view="compare", layout="l-page",
    inputs=(TEASER[0], TEASER[3]), models=(LITE0,), layers=("block4", "block10"), steps=CORE["steps"],
    params={"pows": POWS, "size": CORE["size"], "lr": CORE["lr"]},
    caption="Pick a power $p$: the objective is $d \\cdot s^{p}$ (see the text). With $p = 0$ the optimizer "
            "only pushes the dot product up; larger $p$ rewards keeping the photo's direction. The four powers side "
            "by side; pick a photo and a layer.",
    quick={"inputs": TEASER[:1], "layers": ("block4",), "steps": CORE_QUICK["steps"],
           "params": {"size": CORE_QUICK["size"]}})


def _run(spec: FigureSpec, path: str, pow_: float) -> Run:
    p = spec.params
    return caricature(ref(LITE0), [path], spec.layers, steps=spec.steps, size=p["size"], lr=p["lr"],
                      cossim_pow=pow_, seed=spec.seed)


def runs(spec: FigureSpec) -> list[Run]:
    """Return one run per photo and power."""
    return [_run(spec, path, q) for path in spec.inputs for q in spec.params["pows"]]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return one compare cell per photo × layer with one option per cossim_pow."""
    model, p = model_for(LITE0), spec.params
    photos, cars, cells, table = {}, {}, {}, {}
    for path in spec.inputs:
        key = photo_key(path)
        for pow_ in p["pows"]:
            run = one(config, _run(spec, path, pow_))
            photos[f"photo/{key}"] = run["original"]
            for i, layer in enumerate(spec.layers):
                tile = f"{key}/{layer}/p{pow_:g}"
                cars[tile] = run["images"][i]
                m = {"cosine": run["cosine"][i], "gain": run["gain"][i]}
                cells.setdefault(key, {}).setdefault(layer, {})[f"p{pow_:g}"] = {"tile": tile, "metrics": m}
                table.setdefault(f"p{pow_:g}", []).append(m)
    data = {"option_label": "Cosine power p", "arrange": "row",
            "options": [{"key": f"p{q:g}", "label": f"p = {q:g}"} for q in p["pows"]],
            "photos": [{"key": photo_key(x), "label": photo_label(x), "photo": f"photo/{photo_key(x)}"}
                       for x in spec.inputs],
            "layers": [{"key": n, "label": layer_label(model, n, p["size"])} for n in spec.layers],
            "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"}],
            "initial": {"photo": photo_key(spec.inputs[0]), "layer": spec.layers[-1], "option": "p0"}}
    metrics = {"size": p["size"], "steps": spec.steps, "photos": len(spec.inputs), "layers": len(spec.layers),
               "cases": len(spec.inputs) * len(spec.layers)}
    for name in ("cosine", "gain"):
        metrics[name] = {k: float(np.mean([m[name] for m in v])) for k, v in table.items()}
    return FigureResult(tiles={"photos": photos, "caricatures": cars}, data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": {**p, "steps": spec.steps,
                                                                          "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
