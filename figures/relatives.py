"""Figure `relatives` (section "The caricature among its relatives"): the same photos, layers, steps and seeds
under lucid's caricature (cosine powers 0, 1, 2), the true-cosine objective of Xplique and Horama, torch-dreams'
loss, feature accentuation, the orthogonal penalty of lucid issue #116 and MaCo's parametrization; per variant
the cosine and gain at the layer, the pixel correlation with the photo, the top class and the spread over seeds.

Reproduce: python build.py --only relatives   (alone: python -m figures.relatives [--quick])
"""
from __future__ import annotations

import numpy as np

from caricatures.classes import imagenet_classes
from caricatures.param import natural_photos
from figures._common import TEASER, model_for, models_note, photo_key, photo_label, ref
from figures._measures import pixel_correlation, spread_over_seeds, top_classes
from figures._runs import CORE, CORE_QUICK, LITE0, layer_label
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

REG_LAYER = "block0"   # accentuation's pull toward the photo: the network's first stage end
VARIANTS = (  # key, label, run settings (each on top of the core's size, steps and learning rate)
    ("p0", "lucid, p = 0", {"cossim_pow": 0.0}),
    ("p1", "lucid, p = 1", {"cossim_pow": 1.0}),
    ("p2", "lucid, p = 2", {"cossim_pow": 2.0}),
    ("truecos", "true cosine, p = 2", {"objective": "dot_cossim", "cossim_pow": 2.0}),
    ("dotpow", "torch-dreams", {"objective": "dot_power", "objective_args": {"power": 1.0}}),
    ("accent", "accentuation", {"objective": "accentuation", "init": "photo",
                                "objective_args": {"reg_layer": REG_LAYER, "weight": 1.0}}),
    ("orth", "orthogonal penalty", {"objective": "orthogonal_penalty", "objective_args": {"weight": 1.0}}),
    ("maco", "MaCo", {"param": "maco", "cossim_pow": 0.0}),
)
SPEC = FigureSpec(
    id="relatives", title="The caricature among its relatives", view="compare", layout="l-page",
    inputs=TEASER[:4], models=(LITE0,), layers=("block2", "block7", "block14"), steps=CORE["steps"],
    params={"size": CORE["size"], "lr": CORE["lr"], "seeds": 3, "variants": [v[0] for v in VARIANTS]},
    caption="Eight relatives of the caricature on the same photo and layer, side by side, with the same steps and "
            "seed; under each, its cosine and gain at the layer, its pixel correlation with the photo, the "
            "range of its gain over the seeds (seed range) and the class the network sees in it. Pick a photo and "
            "a layer.",
    quick={"inputs": TEASER[:1], "layers": ("block4",), "steps": CORE_QUICK["steps"],
           "params": {"size": CORE_QUICK["size"], "seeds": 2}})


def _settings(key: str) -> dict:
    return next(s for k, _, s in VARIANTS if k == key)


def _run(spec: FigureSpec, key: str, seed: int) -> Run:
    p = spec.params
    return caricature(ref(LITE0), spec.inputs, spec.layers, steps=spec.steps, size=p["size"], lr=p["lr"], seed=seed,
                      **_settings(key))


def runs(spec: FigureSpec) -> list[Run]:
    """Return one run (every photo × layer) per variant and seed."""
    return [_run(spec, k, spec.seed + s) for k in spec.params["variants"] for s in range(spec.params["seeds"])]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return a side-by-side compare cell per photo × layer with one option per variant, and the measures."""
    model, p, names = model_for(LITE0), spec.params, imagenet_classes()
    keys, labels = p["variants"], {k: lab for k, lab, _ in VARIANTS}
    results = {k: [config.result(_run(spec, k, spec.seed + s)) for s in range(p["seeds"])] for k in keys}
    originals = results[keys[0]][0]["original"]
    photo_top = top_classes(model, originals)
    photos, cars, cells, table = {}, {}, {}, {k: [] for k in keys}
    for k in keys:
        seeds = results[k]
        tops = [top_classes(model, r["images"].reshape(-1, *originals.shape[1:])).reshape(r["images"].shape[:2])
                for r in seeds]
        for i, path in enumerate(spec.inputs):
            photos[f"photo/{photo_key(path)}"] = originals[i]
            for j, layer in enumerate(spec.layers):
                m = {"cosine": [r["cosine"][i][j] for r in seeds], "gain": [r["gain"][i][j] for r in seeds],
                     "pixel_r": [pixel_correlation(r["images"][i][j], originals[i]) for r in seeds],
                     "same_class": [float(t[i][j] == photo_top[i]) for t in tops]}
                spread = spread_over_seeds([r["images"][i][j] for r in seeds], m["cosine"], m["gain"])
                table[k].append({**{n: float(np.mean(v)) for n, v in m.items()}, **spread, "layer": layer})
                tile = f"{photo_key(path)}/{layer}/{k}"
                cars[tile] = seeds[0]["images"][i][j]
                shown = {"cosine": m["cosine"][0], "gain": m["gain"][0], "pixel_r": m["pixel_r"][0],
                         "gain_range": spread["gain_range"]}
                cells.setdefault(photo_key(path), {}).setdefault(layer, {})[k] = {
                    "tile": tile, "metrics": shown, "label": f"seen as: {names[tops[0][i][j]]}"}
    data = {"option_label": "Variant", "photo_label": "Photo", "layer_label": "Layer", "arrange": "row",
            "options": [{"key": k, "label": labels[k]} for k in keys],
            "photos": [{"key": photo_key(x), "label": photo_label(x), "photo": f"photo/{photo_key(x)}"}
                       for x in spec.inputs],
            "layers": [{"key": n, "label": layer_label(model, n, p["size"])} for n in spec.layers],
            "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"},
                            {"key": "pixel_r", "label": "pixel r", "format": ".2f"},
                            {"key": "gain_range", "label": "seed range", "format": ".2f"}],
            "initial": {"photo": photo_key(spec.inputs[0]), "layer": spec.layers[len(spec.layers) // 2],
                        "option": keys[0]}}
    return FigureResult(tiles={"photos": photos, "caricatures": cars}, data=data,
                        metrics=_metrics(spec, table, labels, [names[c] for c in photo_top]),
                        notes={"models": models_note(model),
                               "settings": {**p, "steps": spec.steps, "seed": spec.seed,
                                            "variants": {k: _settings(k) for k in keys}}})


def _metrics(spec: FigureSpec, table: dict[str, list[dict]], labels: dict[str, str], photo_classes: list[str]) -> dict:
    """Return, per variant, the means over photos × layers (× seeds) of each measure, and per layer."""
    p = spec.params
    out = {"size": p["size"], "steps": spec.steps, "lr": p["lr"], "seeds": p["seeds"], "photos": len(spec.inputs),
           "photo_names": [photo_label(x) for x in spec.inputs], "photo_classes": photo_classes,
           "layers": list(spec.layers), "reg_layer": REG_LAYER, "magnitude_photos": len(natural_photos()),
           "variants": []}
    measures = ("cosine", "gain", "pixel_r", "same_class", "cosine_range", "gain_range", "seed_pixel_r")
    for k, rows in table.items():
        entry = {"key": k, "label": labels[k], **{n: float(np.mean([r[n] for r in rows])) for n in measures}}
        for layer in spec.layers:
            entry[layer] = {n: float(np.mean([r[n] for r in rows if r["layer"] == layer])) for n in measures}
        out["variants"].append(entry)
        out[k] = entry
    for n in ("cosine", "gain", "pixel_r"):
        best = max(out["variants"], key=lambda e: e[n])
        out[f"most_{n}"] = best["key"]
    # variant keys, the most seed-dependent first (lowest pixel correlation between two seeds' images)
    out["by_seed_pixel_r"] = [e["key"] for e in sorted(out["variants"], key=lambda e: e["seed_pixel_r"])]
    return out


if __name__ == "__main__":
    run_standalone(SPEC, make)
