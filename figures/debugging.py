"""Broken setups seen through feature visualizations and through caricatures (article section 80-debugging).

Reproduce: python build.py --only debugging

Five setups: healthy, a wrong input range (0–255 fed where (255x − 127)/128 is expected), no
transformation robustness, a too-high learning rate, random weights (caricatured with the scale-invariant
dot_compare_scaled, since lucid's dot leaves Adam no gradient at block 10; the plain-dot run is kept for the
text's comparison); for each photo and setup, the feature
visualization of the photo's most active channel at two layers, and caricatures of the photo at the same layers. Metrics re-evaluate
every image in the healthy model, so a broken setup cannot grade itself: channel activation relative to the
healthy visualization, cosine to the photo at the layer, pixel correlation with the photo, and the share of
image power at high spatial frequencies.
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.images import load_photo
from figures import _common as common
from figures._attribution import high_frequency
from figures._measures import ADAM_EPS, image_metrics, pixel_correlation, to_tensor
from figures._runs import CORE, CORE_QUICK, LITE0, core_result, core_run, layer_label, photo_channels
from sitegen import ROOT
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature, channel

SETUPS = {  # key: (label, model variant, settings for both optimizations)
    "healthy": ("healthy", None, {}),
    "range": ("input 0–255", "x255", {}),
    "notransforms": ("no transforms", None, {"transforms": None}),
    "lr": ("learning rate 1.0", None, {"lr": 1.0}),
    "random": ("random weights", "random", {}),
}
# The random network's activations shrink block by block (root mean square ≈ 1e-6 at block 10), and with lucid's
# dot the gradient that reaches the image falls below Adam's ε: the caricature would stay at its grey start.
# Its caricatures use the scale-invariant dot_compare_scaled instead (the plain dot's run is kept for the text).
CARICATURE_OBJECTIVE = {"random": "dot_compare_scaled"}
SPEC = FigureSpec(
    id="debugging", title="Broken setups: feature visualizations and caricatures", view="compare",
    layout="l-page",
    caption="The five setups side by side for one photo. Pick a photo and an image — a feature visualization of "
            "the channel the photo excites most, or a caricature of the photo, at block 4 or block 10. The metrics "
            "re-evaluate each image in the healthy model; *gain in its own network* is the caricature's gain in the "
            "setup's network. The random network's caricatures use the scale-invariant objective the text describes.",
    inputs=("images/animals/panda.jpg", "images/objects/coffee.jpg", "images/places/statueofliberty.jpg"),
    models=(LITE0,), layers=("block4", "block10"), steps=CORE["steps"],
    params={"vis_size": CORE["size"], "core": CORE},
    quick={"inputs": ("images/animals/panda.jpg",), "steps": 6, "params": {"vis_size": 64, "core": CORE_QUICK}},
)


def variant(kind: str | None):
    """Return the model of a setup: Lite0, Lite0 fed 0–255 pixel values, or Lite0 with random weights."""
    if kind == "x255":
        return common.ref(LITE0, preprocess="x255")
    return common.ref(LITE0, weights="random", seed=0) if kind == "random" else common.ref(LITE0)


def plain_random_run(spec: FigureSpec, path: str) -> Run:
    """Return the random network's caricature run of the photo with lucid's plain dot (the stalled control)."""
    core = spec.params["core"]
    return caricature(variant("random"), [path], spec.layers, steps=core["steps"], size=core["size"], seed=spec.seed,
                      lr=core["lr"])


def setup_runs(spec: FigureSpec, path: str, channels: dict[str, int]) -> dict[str, tuple[dict[str, Run], Run | None]]:
    """Return per setup its visualization run per layer and its caricature run (None: the core run's)."""
    core, out = spec.params["core"], {}
    for key, (_, kind, settings) in SETUPS.items():
        model = variant(kind)
        vis = {layer: channel(model, layer, channels[layer], steps=spec.steps, size=spec.params["vis_size"],
                              seed=spec.seed, **settings) for layer in spec.layers}
        healthy_core = key == "healthy" and set(spec.layers) <= set(core["layers"])   # the introduction's run
        car = None if healthy_core else caricature(model, [path], spec.layers, steps=core["steps"],
                                                   size=core["size"], seed=spec.seed,
                                                   objective=CARICATURE_OBJECTIVE.get(key),
                                                   **{"lr": core["lr"], **settings})
        out[key] = (vis, car)
    return out


def runs(spec: FigureSpec) -> list[Run]:
    """Return per photo its core run and every setup's visualization and caricature runs."""
    out = []
    for path in spec.inputs:
        out.append(core_run(spec, path)[0])
        for vis, car in setup_runs(spec, path, photo_channels(spec, path)[1]).values():
            out += [*vis.values(), *([car] if car else [])]
        out.append(plain_random_run(spec, path))
    return out


def channel_act(model, images: np.ndarray, layer: str, channel: int) -> np.ndarray:
    """Return the mean activation of `channel` at `layer` for each image, in `model`."""
    with torch.no_grad():
        return model.activations(to_tensor(images), [layer])[layer][:, channel].float().mean((1, 2)).numpy()


def photo_cells(config: FigureConfig, spec: FigureSpec, path: str) -> tuple[dict, dict, dict, np.ndarray]:
    """Run every setup's visualizations and caricatures for one photo; grade them all in the healthy model.
    Return (cells[setup][column], tiles, channels[layer], photo)."""
    healthy, core, pk = common.model_for(LITE0), spec.params["core"], common.photo_key(path)
    base = core_result(config, spec, path)
    photo, channels = photo_channels(spec, path)
    if not np.array_equal(photo, base["original"]):
        raise ValueError(f"{path}: the core run's photo differs from the one the channels were chosen on")
    tiles, cells, reference = {f"photo/{pk}": photo}, {}, {}
    for key, (vis_runs, car_run) in setup_runs(spec, path, channels).items():
        cells[key] = {}
        for layer in spec.layers:
            vis = config.result(vis_runs[layer])["images"][0]
            act = float(channel_act(healthy, vis[None], layer, channels[layer])[0])
            reference.setdefault(layer, act)   # the healthy row comes first
            tiles[f"{pk}/{key}/vis/{layer}"] = vis
            cells[key][f"vis/{layer}"] = {"tile": f"{pk}/{key}/vis/{layer}", "metrics": {
                "act": act / reference[layer], "hf": high_frequency(vis)}}
        if car_run is None:   # the introduction's run
            images = base["images"][[core["layers"].index(n) for n in spec.layers]]
        else:
            images = common.one(config, car_run)["images"]
        own = None if car_run is None else common.one(config, car_run)["gain"]   # in the setup's own network
        graded = image_metrics(healthy, photo, images, list(spec.layers))
        for i, (layer, image, g) in enumerate(zip(spec.layers, images, graded)):
            tiles[f"{pk}/{key}/car/{layer}"] = image
            cells[key][f"car/{layer}"] = {"tile": f"{pk}/{key}/car/{layer}", "metrics": {
                "cosine": g["cosine"], "gain": g["gain"], "pixel_r": pixel_correlation(image, photo),
                "hf": high_frequency(image), **({} if own is None else {"own_gain": float(own[i])})}}
    sizes = {"vis": spec.params["vis_size"], "car": core["size"]}
    for key in SETUPS:
        for col, cell in cells[key].items():
            kind, layer = col.split("/")
            cell["label"] = f"{'visualization' if kind == 'vis' else 'caricature'} · " + (
                layer_label(healthy, layer, sizes[kind]) + (f" · ch {channels[layer]}" if kind == "vis" else "")
                + (" · scale-invariant objective" if kind == "car" and key in CARICATURE_OBJECTIVE else ""))
    return cells, tiles, channels, photo


@torch.no_grad()
def random_rms(spec: FigureSpec, layer: str) -> float:
    """Return the root mean square of the photos' activations at `layer` of the random-weights Lite0."""
    model, size = variant("random").load(), spec.params["core"]["size"]
    batch = torch.stack([load_photo(ROOT / path, size) for path in spec.inputs])
    return float(model.activations(batch, [layer])[layer].pow(2).flatten(1).mean(1).sqrt().mean())


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Every photo through every setup; metrics of the first photo by name, and their range over photos."""
    healthy, core = common.model_for(LITE0), spec.params["core"]
    tiles, cells, channels, photo_hf = {}, {}, {}, []
    for path in spec.inputs:
        pk = common.photo_key(path)
        cells[pk], own, channels[pk], photo = photo_cells(config, spec, path)
        tiles.update(own)
        photo_hf.append(high_frequency(photo))
    titles = {n: healthy.layer(n).title.split(" · ")[0] for n in spec.layers}
    cols = ([{"key": f"vis/{n}", "label": f"visualization · {titles[n]}"} for n in spec.layers] +
            [{"key": f"car/{n}", "label": f"caricature · {titles[n]}"} for n in spec.layers])
    first = common.photo_key(spec.inputs[0])
    data = {"option_label": "Setup", "layer_label": "Image", "photo_label": "Photo", "arrange": "row",
            "options": [{"key": k, "label": v[0]} for k, v in SETUPS.items()],
            "photos": [{"key": common.photo_key(p), "label": common.photo_label(p), "photo": f"photo/{common.photo_key(p)}"}
                       for p in spec.inputs], "layers": cols,
            "cells": {pk: {c["key"]: {k: by_setup[k][c["key"]] for k in SETUPS} for c in cols}
                      for pk, by_setup in cells.items()},
            "metric_defs": [{"key": "act", "label": "channel act.", "format": ".2f", "suffix": "× healthy"},
                            {"key": "cosine", "label": "cos", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"},
                            {"key": "pixel_r", "label": "pixel r", "format": ".2f"},
                            {"key": "hf", "label": "high-freq. power", "format": ".0%"},
                            {"key": "own_gain", "label": "gain in its own network", "format": ".2f", "suffix": "×"}],
            "initial": {"photo": first, "layer": cols[-1]["key"], "option": "healthy"}}
    metrics = {"photos": len(spec.inputs), "photo_hf": photo_hf[0], "vis_size": spec.params["vis_size"],
               "vis_steps": spec.steps, "car_size": core["size"], "car_steps": core["steps"],
               "lr_high": SETUPS["lr"][2]["lr"], "photo_names": [common.photo_label(p) for p in spec.inputs],
               "channels": {common.photo_label(p): channels[common.photo_key(p)] for p in spec.inputs},
               **{f"channel_{n}": c for n, c in channels[first].items()},
               # how strong the photo's activation is in the random network (root mean square, mean over photos):
               # far below 1, the gradient that reaches the image is too (see the models figure's text)
               "random_rms": {n: random_rms(spec, n) for n in spec.layers}, "adam_eps": ADAM_EPS,
               # the random network's caricatures judged by that network itself (gain at the layer, mean over
               # photos): with the scale-invariant objective, and with lucid's plain dot
               "random_own_gain": {n: float(np.mean([cells[common.photo_key(p)]["random"][f"car/{n}"]["metrics"]
                                                     ["own_gain"] for p in spec.inputs])) for n in spec.layers},
               "random_plain_own_gain": {n: float(np.mean([common.one(config, plain_random_run(spec, p))["gain"][i]
                                                           for p in spec.inputs]))
                                         for i, n in enumerate(spec.layers)}}
    for key in SETUPS:
        for col, cell in cells[first][key].items():
            for name, value in cell["metrics"].items():
                k = f"{key}_{col.replace('/', '_')}_{name}"
                values = [cells[pk][key][col]["metrics"][name] for pk in cells]
                metrics[k], metrics[k + "_min"], metrics[k + "_max"] = value, min(values), max(values)
    return FigureResult(tiles={"cells": tiles}, data=data, metrics=metrics,
                        notes={"models": common.models_note(healthy, variant("random").load()), "channels": channels,
                               "setups": {k: {"label": v[0], "model": v[1], **v[2],
                                             "caricature_objective": CARICATURE_OBJECTIVE.get(k, "dot_compare")}
                                          for k, v in SETUPS.items()}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
