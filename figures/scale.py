"""Figure `scale` (section "A hundred caricatures"): caricatures of every shared photo at four layers of
EfficientNet-Lite0, with the distribution of cosine and gain per layer. Sprites load one layer at a time.

Reproduce: python build.py --only scale   (alone: python -m figures.scale [--quick])

Lucid's recipe, as in the other figures: 224 px and 512 steps, four photos a run. Its 103 photos × 4 layers
make it the longest figure to build (about 50 minutes on the 2-core CPU).
"""
from __future__ import annotations

from figures._common import (
    all_photos,
    model_for,
    models_note,
    one,
    photo_key,
    photo_label,
    photo_set,
)
from figures._measures import summary
from figures._runs import CORE, LITE0, hundred_run, layer_label, short_label
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run

PHOTOS = all_photos()
SETS = ("animals", "objects", "places")
SPEC = FigureSpec(
    id="scale", title="Caricatures of every photo at four layers", view="explorer", layout="l-page",
    inputs=PHOTOS, models=(LITE0,), layers=("block2", "block4", "block7", "block14"), steps=CORE["steps"],
    params={"size": CORE["size"], "lr": CORE["lr"], "batch": CORE["batch"]},
    caption="Every photo shared with this article beside its caricature at one layer of Lite0. Pick a layer or "
            "a set; each dot in the charts is one photo, and hovering it shows that pair. A layer's images load "
            "only when it is picked.",
    quick={"inputs": tuple(p for s in SETS for p in [x for x in PHOTOS if photo_set(x) == s][:1]),
           "layers": ("block2", "block14"), "steps": 4, "params": {"size": 64}})


def runs(spec: FigureSpec) -> list[Run]:
    """Return one run per chunk of `batch` photos."""
    return list(dict.fromkeys(hundred_run(spec, path)[0] for path in spec.inputs))


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return a photos group and one lazily loaded group per layer, with cosine and gain per cell."""
    model, p = model_for(LITE0), spec.params
    tiles = {"photos": {}, **{f"layer-{n}": {} for n in spec.layers}}
    cells, photos = {}, []
    for path in spec.inputs:
        key, run = photo_key(path), one(config, *hundred_run(spec, path))
        tiles["photos"][f"photo/{key}"] = run["original"]
        photos.append({"key": key, "label": photo_label(path), "set": photo_set(path), "photo": f"photo/{key}"})
        for i, layer in enumerate(spec.layers):
            tiles[f"layer-{layer}"][f"{layer}/{key}"] = run["images"][i]
            cells.setdefault(key, {})[layer] = {"tile": f"{layer}/{key}", "metrics": {
                "cosine": run["cosine"][i], "gain": run["gain"][i]}}
    sets = [s for s in SETS if any(ph["set"] == s for ph in photos)]
    data = {"sets": [{"key": s, "label": s.title()} for s in sets],
            "layers": [{"key": n, "label": layer_label(model, n, p["size"]), "short": short_label(n)}
                       for n in spec.layers],
            "photos": photos, "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×",
                             "refs": [{"value": 1, "label": "1× = the photo"}]}],
            "initial": {"layer": spec.layers[1], "set": "", "photo": photos[0]["key"]}}
    metrics = {"photos": len(photos), "size": p["size"], "steps": spec.steps, "layers": list(spec.layers)}
    for layer in spec.layers:
        for name in ("cosine", "gain"):
            values = [cells[ph["key"]][layer]["metrics"][name] for ph in photos]
            low = photos[min(range(len(values)), key=values.__getitem__)]
            metrics[f"{name}_{layer}"] = {**summary(values), "lowest": low["label"]}
    least = min(spec.layers, key=lambda n: metrics[f"gain_{n}"]["share_above_1"])
    metrics["least_extreme"] = {"layer": least, "share_above_1": metrics[f"gain_{least}"]["share_above_1"]}
    gains = [c[n]["metrics"]["gain"] for c in cells.values() for n in spec.layers]
    metrics["gain_all"] = summary(gains)
    metrics["cosine_all"] = summary([c[n]["metrics"]["cosine"] for c in cells.values() for n in spec.layers])
    return FigureResult(tiles=tiles, data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": {**p, "steps": spec.steps,
                                                                          "layers": list(spec.layers),
                                                                          "cossim_pow": 0, "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
