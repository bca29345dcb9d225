"""Figure `travel` (section "Does a caricature travel like its photo?"): a sanity check in the spirit of
"don't trust your eyes" — a caricature made at one layer of Lite0, followed through the whole network: at every
block output, the cosine between its activations and the photo's; beside it the same for a feature
visualization of the channel the photo excites most at that layer, and for another photo (a floor).

Reproduce: python build.py --only travel   (alone: python -m figures.travel [--quick])

The caricatures are the introduction's core runs and the visualizations the debugging figure's healthy ones,
read from the build's cache.
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.files import to_uint8
from caricatures.images import load_photo
from caricatures.metrics import compare
from figures._common import TEASER, model_for, models_note, photo_label, ref
from figures._measures import to_tensor
from figures._runs import CORE, CORE_QUICK, LITE0, core_result, core_run, photo_channels, pretty
from sitegen import ROOT
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, channel

SPEC = FigureSpec(
    id="travel", title="Does a caricature travel through the network like its photo?", view="chart",
    layout="l-body", inputs=TEASER[:3], models=(LITE0,), layers=("block4", "block10"), steps=CORE["steps"],
    params={"core": CORE, "vis_size": CORE["size"]},
    caption="At each block output of Lite0 (left to right), the cosine between an image's activations and the "
            "photo's: a caricature made at the layer named above the panel, a feature visualization of the "
            "channel the photo excites most there, and another photo. Means over the photos; hover or tab to a "
            "point.",
    quick={"inputs": TEASER[:2], "layers": ("block2", "block7"), "steps": 6,
           "params": {"core": CORE_QUICK, "vis_size": 64}})


def _vis_runs(spec: FigureSpec, path: str) -> dict[str, Run]:
    """Return the visualization run of the photo's most active channel at each layer (the debugging figure's)."""
    channels = photo_channels(spec, path)[1]
    return {n: channel(ref(LITE0), n, channels[n], steps=spec.steps, size=spec.params["vis_size"], seed=spec.seed)
            for n in spec.layers}


def runs(spec: FigureSpec) -> list[Run]:
    """Return the core runs of the photos and their visualizations."""
    return [core_run(spec, p)[0] for p in spec.inputs] + [r for p in spec.inputs for r in _vis_runs(spec, p).values()]


@torch.no_grad()
def cosines(model, image: np.ndarray, photo: np.ndarray, layers: list[str]) -> list[float]:
    """Return the cosine of `image`'s activations with `photo`'s at each layer (both uint8, the same size)."""
    acts = model.activations(to_tensor(np.stack([image, photo])), layers)
    return [compare(acts[n][0], acts[n][1])["cosine"] for n in layers]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return one chart panel per layer: mean cosine to the photo along the network of the three kinds of image."""
    model, core = model_for(LITE0), spec.params["core"]
    depth = [n for n, lay in model.layers.items() if lay.module is None and n.startswith("block")]
    curves = {n: {"caricature": [], "visualization": [], "other photo": []} for n in spec.layers}
    for j, path in enumerate(spec.inputs):
        car = core_result(config, spec, path)
        other = core_result(config, spec, spec.inputs[(j + 1) % len(spec.inputs)])["original"]
        big = to_uint8(load_photo(ROOT / path, spec.params["vis_size"]).permute(1, 2, 0).numpy())
        vis = _vis_runs(spec, path)
        for n in spec.layers:
            c = curves[n]
            c["caricature"].append(cosines(model, car["images"][core["layers"].index(n)], car["original"], depth))
            c["visualization"].append(cosines(model, config.result(vis[n])["images"][0], big, depth))
            c["other photo"].append(cosines(model, other, car["original"], depth))
    mean = {n: {k: np.mean(v, axis=0) for k, v in c.items()} for n, c in curves.items()}
    panels = [{"y": {"label": f"cosine to the photo · made at {pretty(n)}", "format": ".2f", "max": 1},
               "series": [{"key": k.replace(" ", "-"), "label": k, "kind": "line",
                           "points": [[d, round(float(v), 4)] for d, v in zip(depth, values)]}
                          for k, values in mean[n].items()]} for n in spec.layers]
    data = {"x": {"label": "block output", "scale": "category",
                  "categories": [{"key": d, "label": d.replace("block", "")} for d in depth]},
            "panels": panels, "panel_height": 140}
    at = {d: i for i, d in enumerate(depth)}
    metrics = {"photos": len(spec.inputs), "photo_names": [photo_label(p) for p in spec.inputs],
               "layers": list(spec.layers), "last": depth[-1], "vis_size": spec.params["vis_size"],
               "car_size": core["size"]}
    for n in spec.layers:
        for k, values in mean[n].items():
            key = k.split()[0]
            metrics[f"{key}_{n}_at_own"] = float(values[at[n]])
            metrics[f"{key}_{n}_at_last"] = float(values[-1])
            metrics[f"{key}_{n}_min"] = float(values.min())
            metrics[f"{key}_{n}_after"] = float(values[at[n]:].mean())   # from the layer to the end
            metrics[f"{key}_{n}_at_first"] = float(values[0])
            metrics[f"{key}_{n}_peak"] = depth[int(values.argmax())]
    return FigureResult(data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": {**core, "vis_size": spec.params["vis_size"],
                                                                          "vis_steps": spec.steps, "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
