"""Caricatures at early layers toward what a later layer responds to (article section 60-hidden).

Reproduce: python build.py --only attribution_hidden

Plain caricature (lucid's dot_compare) beside attribution caricatures whose objective is Σ A_opt·attr with
attr = A·∂(Σ A_later²)/∂A of the photo (held constant, divided by its maximum): the same early layers, the same
photos, optimized with the teaser's settings (`_runs.CORE`), whose plain runs are reused from the build cache.
Metrics: cosine and gain against the photo at the caricature's layer, and the
later layer's energy Σ A² of the caricature relative to the photo's ("later ×").
"""
from __future__ import annotations

import numpy as np
import torch

from figures import _common as common
from figures._runs import CORE, CORE_QUICK, LITE0, core_result, core_run, layer_label
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

SPEC = FigureSpec(
    id="attribution_hidden", title="Caricatures that emphasize what a later layer uses", view="compare",
    layout="l-page",
    caption="The same photo and early layer, caricatured plainly and toward the energy of a later layer, side by "
            "side. Pick a photo and a layer.",
    inputs=common.COMPARE[:4], models=(LITE0,), layers=("stem", "block2", "block4", "block7"), steps=CORE["steps"],
    params={"core": CORE, "later": ["block10", "head"]},
    quick={"inputs": common.COMPARE[:2], "steps": CORE_QUICK["steps"], "params": {"core": CORE_QUICK}},
)


def energy(model, images: np.ndarray, layer: str) -> np.ndarray:
    """Return Σ A² at `layer` for each uint8 image (N, S, S, 3)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return model.activations(x, [layer])[layer].float().pow(2).flatten(1).sum(1).numpy()


def _extra(spec: FigureSpec) -> tuple[str, ...]:
    """Return the figure's layers the core runs lack."""
    return tuple(n for n in spec.layers if n not in spec.params["core"]["layers"])


def _run(spec: FigureSpec, path: str, layers, target: str | None = None) -> Run:
    """Return the caricature run of one photo at `layers`, plain or toward an attribution target."""
    core = spec.params["core"]
    return caricature(common.ref(spec.models[0]), [path], layers, steps=spec.steps, size=core["size"],
                      lr=core["lr"], attribution=target, seed=spec.seed)


def runs(spec: FigureSpec) -> list[Run]:
    """Return per photo its core run, a plain run at the layers the core lacks, and one run per later layer."""
    out = []
    for path in spec.inputs:
        out.append(core_run(spec, path)[0])
        if _extra(spec):
            out.append(_run(spec, path, _extra(spec)))
        out += [_run(spec, path, spec.layers, f"energy:{n}") for n in spec.params["later"]]
    return out


def plain(config: FigureConfig, spec: FigureSpec, path: str) -> dict[str, np.ndarray]:
    """Return plain caricatures at spec.layers: the teaser's core run where it has the layer, else our own."""
    core = spec.params["core"]
    run = core_result(config, spec, path)
    extra = _extra(spec)
    own = common.one(config, _run(spec, path, extra)) if extra else {}
    pick = {n: (own, extra.index(n)) if n in extra else (run, core["layers"].index(n)) for n in spec.layers}
    return {"original": run["original"],
            **{k: np.stack([src[k][i] for src, i in pick.values()]) for k in ("images", "cosine", "gain")}}


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Plain and toward-later-layer caricatures of each photo at the early layers, with their metrics."""
    model, size, later = common.model_for(spec.models[0]), spec.params["core"]["size"], spec.params["later"]
    options = [("plain", "plain", None)] + [(f"to-{n}", f"toward Σ {model.layer(n).title.split(' · ')[0]}²", n)
                                            for n in later]
    tiles, cells = {"photos": {}, "caricatures": {}}, {}
    ratios = {(o, n, layer): [] for o, _, _ in options for n in later for layer in spec.layers}
    gains = {(o, layer): [] for o, _, _ in options for layer in spec.layers}
    cosines = {(o, layer): [] for o, _, _ in options for layer in spec.layers}
    for path in spec.inputs:
        pk = common.photo_key(path)
        cells[pk] = {layer: {} for layer in spec.layers}
        for key, label, target in options:
            if target is None:
                run = plain(config, spec, path)
            else:
                run = common.one(config, _run(spec, path, spec.layers, f"energy:{target}"))
            tiles["photos"][f"photo/{pk}"] = run["original"]
            base = {n: energy(model, run["original"][None], n)[0] for n in later}
            for n in later:
                for layer, r in zip(spec.layers, energy(model, run["images"], n) / base[n]):
                    ratios[(key, n, layer)].append(float(r))
            for i, layer in enumerate(spec.layers):
                tile = f"{pk}/{layer}/{key}"
                tiles["caricatures"][tile] = run["images"][i]
                metrics = {"cosine": float(run["cosine"][i]), "gain": float(run["gain"][i])}
                if target is not None:
                    metrics["later"] = float(energy(model, run["images"][i:i + 1], target)[0] / base[target])
                gains[(key, layer)].append(metrics["gain"])
                cosines[(key, layer)].append(metrics["cosine"])
                cells[pk][layer][key] = {"tile": tile, "metrics": metrics, "label": layer_label(model, layer, size)}
    data = {"option_label": "Objective", "photo_label": "Photo", "layer_label": "Caricature layer", "arrange": "row",
            "options": [{"key": k, "label": lab} for k, lab, _ in options],
            "photos": [{"key": common.photo_key(p), "label": common.photo_label(p),
                        "photo": f"photo/{common.photo_key(p)}"} for p in spec.inputs],
            "layers": [{"key": n, "label": model.layer(n).title.split(" · ")[0]} for n in spec.layers],
            "cells": cells,
            "metric_defs": [{"key": "cosine", "label": "cos", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"},
                            {"key": "later", "label": "later-layer energy", "format": ".2f", "suffix": "× photo"}],
            "initial": {"photo": common.photo_key(spec.inputs[0]), "layer": spec.layers[-1],
                        "option": options[1][0]}}
    metrics = {"photos": len(spec.inputs), "size": size, "steps": spec.steps}
    for key, _, _ in options:   # medians over photos (and over layers where no layer is named)
        k = key.replace("-", "_")
        for n in later:
            metrics[f"energy_{k}_at_{n}"] = float(np.median([v for (o, m, _), vs in ratios.items()
                                                             if (o, m) == (key, n) for v in vs]))
            for layer in spec.layers:
                metrics[f"energy_{k}_at_{n}_{layer}"] = float(np.median(ratios[(key, n, layer)]))
        for layer in spec.layers:
            metrics[f"gain_{k}_{layer}"] = float(np.median(gains[(key, layer)]))
            metrics[f"cos_{k}_{layer}"] = float(np.median(cosines[(key, layer)]))
    return FigureResult(tiles=tiles, data=data, metrics=metrics,
                        notes={"models": common.models_note(model), "size": size, "steps": spec.steps,
                               "later_layers": later})


if __name__ == "__main__":
    run_standalone(SPEC, make)
