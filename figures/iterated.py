"""Iterated attribution next to single-step attribution (article section 70-iterated).

Reproduce: python build.py --only iterated

Single step: attr_L = A_L·∂target/∂A_L at the end layer L directly. Iterated (lucid): walk the span's layers from
the top down, attr_k−1 = A_k−1·∂(Σ A_k·attr_k)/∂A_k−1 with attr_k held constant, each divided by its maximum.
Caricatures (objective Σ A_opt·attr) for two spans on a few photos; the agreement of the two attribution maps
at the end layer (IoU of their top positions, Spearman's ρ) for every span over a larger photo sample.
"""
from __future__ import annotations

import numpy as np

from caricatures.images import load_photo
from figures import _common as common
from figures._attribution import probabilities, spearman, top_iou
from figures._runs import CORE, layer_label
from sitegen.contract import ROOT, FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, attribution, caricature

SPANS = {  # key: (start, walk from the top down); "class" starts at the photo's top logit
    "class-b10-b4": ("class", ["block10", "block4"]),
    "class-head-b10": ("class", ["head", "block10"]),
    "class-head-b4": ("class", ["head", "block10", "block4"]),
    "class-long": ("class", ["head", "block14", "block10", "block7", "block4"]),
    "energy-b10-stem": ("block10", ["block10", "block4", "block2", "stem"]),
    "energy-head-b4": ("head", ["head", "block10", "block4"]),
}
SPEC = FigureSpec(
    id="iterated", title="Iterated attribution against single-step attribution", view="compare", layout="l-page",
    caption="Attribution caricatures with the attribution taken in one step or iterated down the span's layers, "
            "side by side. "
            "The metrics compare the two attribution maps at the end layer. The iterated walk starts with the "
            "attribution at its start layer itself, so it differs from the single step even where no layer lies "
            "between start and end.",
    inputs=("images/animals/panda.jpg", "images/objects/coffee.jpg", "images/animals/scarlet_macaw.jpg"),
    models=("efficientnet_lite0",),
    # Caricature spans use the settings of the figure whose single-step runs they share: attribution_classes
    # for the class span, attribution_hidden (the teaser's CORE settings) for the Σ A² span.
    params={"runs": {"class-head-b10": {"size": CORE["size"], "steps": CORE["steps"]},
                     "energy-b10-stem": {"size": CORE["size"], "steps": CORE["steps"], "lr": CORE["lr"]}},
            "map_size": CORE["size"], "sample_step": 4, "iou_top": 0.2},
    quick={"inputs": ("images/animals/panda.jpg",),
           "params": {"runs": {"class-head-b10": {"size": 96, "steps": 6}, "energy-b10-stem": {"size": 64, "steps": 6}},
                      "map_size": 96, "sample_step": 60}},
)


def start_target(model, path: str, start: str) -> tuple[str, int | None]:
    """Return the span's starting target ("logit:C" or "energy:LAYER") and class: the photo's top logit (at the
    model's input size) or Σ A² of the start layer."""
    if start != "class":
        return f"energy:{start}", None
    if path not in _TOP:
        photo = load_photo(ROOT / path, model.input_size).permute(1, 2, 0).numpy()[None]
        _TOP[path] = int(np.argmax(probabilities(model, photo)[0]))
    return f"logit:{_TOP[path]}", _TOP[path]


_TOP: dict[str, int] = {}


def map_runs(spec: FigureSpec, path: str, span: str) -> tuple[Run, Run]:
    """Return the runs of the single-step and the iterated attribution map at the span's end layer."""
    model, size = common.ref(spec.models[0]), spec.params["map_size"]
    start, walk = SPANS[span]
    target, _ = start_target(model.load(), path, start)
    return (attribution(model, path, walk[-1:], target, size=size),
            attribution(model, path, walk, target, iterate=True, size=size))


def agreement(config, spec, path, span, frac) -> tuple[float, float]:
    """Return (top-frac IoU, Spearman ρ) of the single-step and iterated maps at the span's end layer."""
    end = SPANS[span][1][-1]
    single, walked = (config.result(r)[end] for r in map_runs(spec, path, span))
    return top_iou(single, walked, frac), spearman(single, walked)


def ordered(model, layers) -> tuple[str, ...]:
    """Return layers shallow to deep (the order caricature runs are keyed by)."""
    return tuple(sorted(layers, key=list(model.layers).index))


def caricature_runs(spec: FigureSpec, path: str, span: str) -> dict[str, tuple[tuple[str, ...], Run]]:
    """Return {"single" | "iterated": (its layers, the caricature run)} of one photo and span.

    Single-step runs leave out the target's own layer (nothing to walk there), so the Σ A² span shares
    attribution_hidden's runs and the class span attribution_classes' runs."""
    model, settings = common.model_for(spec.models[0]), spec.params["runs"][span]
    start, walk = SPANS[span]
    target, _ = start_target(model, path, start)
    own = start if start != "class" else None
    lay = {"single": ordered(model, [n for n in walk if n != own]), "iterated": ordered(model, walk)}
    opts = {k: v for k, v in settings.items() if k != "steps"}
    return {mode: (lay[mode], caricature(common.ref(spec.models[0]), [path], lay[mode], steps=settings["steps"],
                                         attribution=target, seed=spec.seed, **opts,
                                         **({"iterate": True} if mode == "iterated" else {})))
            for mode in ("single", "iterated")}


def _sample(spec: FigureSpec) -> tuple[str, ...]:
    return common.all_photos()[::spec.params["sample_step"]]


def runs(spec: FigureSpec) -> list[Run]:
    """Return the caricature runs of the shown spans and the attribution-map runs of every span."""
    cars = [r for path in spec.inputs for span in spec.params["runs"]
            for _, r in caricature_runs(spec, path, span).values()]
    return cars + [r for path in _sample(spec) for span in SPANS for r in map_runs(spec, path, span)]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Caricatures for the caricature spans; overlap statistics for every span over the photo sample."""
    model, size, frac = common.model_for(spec.models[0]), spec.params["map_size"], spec.params["iou_top"]
    settings = spec.params["runs"]
    shown = list(settings)
    sample = _sample(spec)
    tiles, cells, layers = {"photos": {}, "caricatures": {}}, {}, []
    for span in shown:
        start, walk = SPANS[span]
        for layer in walk[1:]:
            chain = " → ".join(walk[0 if start == "class" else 1:walk.index(layer) + 1])
            label = f"{'top logit' if start == 'class' else 'Σ ' + start + '²'} → {chain}".replace("block", "block ")
            layers.append({"key": f"{span}/{layer}", "label": label, "short": layer})
    for path in spec.inputs:
        pk = common.photo_key(path)
        cells[pk] = {}
        for span in shown:
            start, walk = SPANS[span]
            _, cls = start_target(model, path, start)
            planned = caricature_runs(spec, path, span)
            lay = {mode: layers for mode, (layers, _) in planned.items()}
            runs = {mode: common.one(config, run) for mode, (_, run) in planned.items()}
            for layer in walk[1:]:
                maps = {m: runs[m][f"attribution_map_{lay[m].index(layer)}"] for m in runs}
                iou, rho = top_iou(maps["single"], maps["iterated"], frac), spearman(maps["single"], maps["iterated"])
                cells[pk][f"{span}/{layer}"] = {}
                for mode, run in runs.items():
                    i = lay[mode].index(layer)
                    tiles["photos"][f"photo/{pk}"] = run["original"]
                    tile = f"{pk}/{span}/{layer}/{mode}"
                    tiles["caricatures"][tile] = run["images"][i]
                    metrics = {"iou": iou, "rho": rho, "cosine": float(run["cosine"][i])}
                    if cls is not None:
                        metrics["p_car"] = float(probabilities(model, run["images"][i:i + 1])[0, cls])
                    cells[pk][f"{span}/{layer}"][mode] = {"tile": tile, "metrics": metrics,
                                                         "label": layer_label(model, layer, settings[span]["size"])}
    metrics = {"photos": len(spec.inputs), "sample": len(sample), "sample_step": spec.params["sample_step"],
               "spans": len(SPANS),
               "map_size": size, "iou_top_pct": round(100 * frac),
               "iou_chance": frac / (2 - frac),   # two independent random top-frac sets: f² / (2f − f²)
               **{f"{k}_{span.split('-')[0]}": v for span, s in settings.items() for k, v in s.items()}}
    for span in SPANS:
        pairs = np.array([agreement(config, spec, p, span, frac) for p in sample])
        key = span.replace("-", "_")
        metrics[f"iou_{key}"], metrics[f"rho_{key}"] = float(pairs[:, 0].mean()), float(np.nanmean(pairs[:, 1]))
        metrics[f"iou_q10_{key}"] = float(np.quantile(pairs[:, 0], 0.1))
    data = {"option_label": "Attribution", "photo_label": "Photo", "layer_label": "Span → end layer", "arrange": "row",
            "options": [{"key": "single", "label": "single step"}, {"key": "iterated", "label": "iterated"}],
            "photos": [{"key": common.photo_key(p), "label": common.photo_label(p),
                        "photo": f"photo/{common.photo_key(p)}"} for p in spec.inputs],
            "layers": layers, "cells": cells,
            "metric_defs": [{"key": "iou", "label": f"top-{round(100 * frac)}% IoU of maps", "format": ".2f"},
                            {"key": "rho", "label": "ρ of maps", "format": ".2f"},
                            {"key": "p_car", "label": "p(class | caricature)", "format": ".0%"},
                            {"key": "cosine", "label": "cos to photo", "format": ".2f"}],
            "initial": {"photo": common.photo_key(spec.inputs[0]), "layer": layers[0]["key"], "option": "iterated"}}
    return FigureResult(tiles=tiles, data=data, metrics=metrics,
                        notes={"models": common.models_note(model), "spans": {k: [s, w] for k, (s, w) in SPANS.items()},
                               "runs": settings, "map_size": size})


if __name__ == "__main__":
    run_standalone(SPEC, make)
