"""Figure `in_context` (introduction): twelve photos beside their caricatures at six stage ends of
EfficientNet-Lite0, from texture-level blocks to the end of the sixth of its seven stages.

Reproduce: python build.py --only in_context   (alone: python -m figures.in_context [--quick])

These are the "core" runs (`_runs.CORE`): the model comparison, preprocessing and branch figures reuse
them from the build cache.
"""
from __future__ import annotations

import numpy as np

from figures._common import TEASER, model_for, models_note, photo_key, photo_label
from figures._measures import summary
from figures._runs import (
    CORE,
    CORE_QUICK,
    LITE0,
    core_result,
    core_run,
    layer_label,
    seed_runs,
    seed_spread,
    short_label,
)
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run

SPEC = FigureSpec(
    id="in_context", title="Caricatures of twelve photos at six layers of EfficientNet-Lite0", view="grid",
    layout="l-page", inputs=TEASER, models=(LITE0,), layers=tuple(CORE["layers"]), steps=CORE["steps"],
    # seed_check: the first core batch is rerun with this many other seeds, to say how much a caricature
    # depends on its random start (numbers only; the grid shows the figure's own seed)
    params={"core": CORE, "seed_check": 2},
    caption="Each row is a photo, each column a layer of EfficientNet-Lite0 from early (left) to late "
            "(right); each cell is a caricature of the row's photo at the column's layer. Hover or tap a "
            "cell to see it large beside its photo, with its *cosine* (how closely its activation points "
            "the photo's way) and *gain* (how far it goes along that way, in units of the photo's own).",
    quick={"inputs": TEASER[:2], "layers": tuple(CORE_QUICK["layers"]), "steps": CORE_QUICK["steps"],
           "params": {"core": CORE_QUICK, "seed_check": 1}})


def runs(spec: FigureSpec) -> list[Run]:
    """Return the core runs of the photos, and the first batch's with the extra seeds."""
    return [core_run(spec, path)[0] for path in spec.inputs] + seed_runs(spec, spec.params["seed_check"])


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return the photos × layers grid of core caricatures with cosine and gain per cell."""
    model, core = model_for(LITE0), spec.params["core"]
    photos, cars, rows, cells = {}, {}, [], {}
    for path in spec.inputs:
        key, run = photo_key(path), core_result(config, spec, path)
        photos[f"photo/{key}"] = run["original"]
        rows.append({"key": key, "label": photo_label(path), "photo": f"photo/{key}"})
        for i, layer in enumerate(core["layers"]):
            cars[f"{key}/{layer}"] = run["images"][i]
            cells.setdefault(key, {})[layer] = {"tile": f"{key}/{layer}", "metrics": {
                "cosine": run["cosine"][i], "gain": run["gain"][i]}}
    cols = [{"key": n, "label": layer_label(model, n, core["size"]), "short": short_label(n)}
            for n in core["layers"]]
    data = {"rows": rows, "cols": cols, "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"}],
            "initial": {"row": rows[0]["key"], "col": core["layers"][len(core["layers"]) // 2]},
            "label": f"Caricatures of {len(rows)} photos at {len(cols)} layers of EfficientNet-Lite0"}
    metrics = {"photos": len(rows), "layers": len(cols), "size": core["size"], "steps": core["steps"]}
    for name in ("cosine", "gain"):
        values = np.array([[c[n]["metrics"][name] for n in core["layers"]] for c in cells.values()])
        metrics[f"{name}_median"] = summary(values.ravel())["median"]
        metrics[f"{name}_min"], metrics[f"{name}_max"] = float(values.min()), float(values.max())
        metrics[f"{name}_by_layer"] = {n: summary(values[:, i])["median"] for i, n in enumerate(core["layers"])}
    metrics["gain_share_above_1"] = summary(np.array(
        [c[n]["metrics"]["gain"] for c in cells.values() for n in core["layers"]]))["share_above_1"]
    metrics["seed_spread"] = seed_spread(config, spec, spec.params["seed_check"])
    return FigureResult(tiles={"photos": photos, "caricatures": cars}, data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": {**core, "cossim_pow": 0,
                                                                          "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
