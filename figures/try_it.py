"""Figure `try_it` (Introduction): the reader caricatures one of the article's photos, or a photo of their own,
in the browser, at a stage end of EfficientNet-Lite0.

Reproduce: python build.py --only try_it   (alone: python -m figures.try_it [--quick])

make() optimizes nothing: it packs thumbnails of six photos and lists the layers. The page
(assets/js/figures/try_it.js) runs the recipe in TensorFlow.js (assets/js/tryit/) when the reader starts it,
with the weights and photos that the build writes as scripts for it (data.exports, sitegen/exports.py).
"""
from __future__ import annotations

from caricatures.files import to_uint8
from caricatures.images import load_photo
from figures._common import TEASER, model_for, models_note, photo_key, photo_label
from sitegen import web_export
from sitegen.contract import ROOT, FigureConfig, FigureResult, FigureSpec, run_standalone

LITE0 = "efficientnet_lite0"
SETTINGS = {"size": 96, "steps": 64, "lr": 0.05, "seed": 0, "layer": "block7",
            "sizes": [64, 96, 128, 160, 224], "step_choices": [32, 64, 96, 128, 256, 512],
            "thumb": 128, "photo_size": 224}
LABELS = {"grace_hopper": "Grace Hopper"}   # shorter than its credited title, for a thumbnail's label

SPEC = FigureSpec(
    id="try_it", title="Caricature a photo in your browser", view="try_it", layout="l-page",
    inputs=TEASER[:6], models=(LITE0,),
    layers=("block0", "block2", "block4", "block7", "block10", "block14", "block15"), params=SETTINGS,
    caption="Pick a photo, or choose or drop one of your own, pick a layer and press Start: this page optimizes "
            "the caricature with Lite0 in your browser and shows it as it changes, with its cosine and gain. "
            "Stop, continue, or download the image as a PNG.")


def runs(spec: FigureSpec) -> list:
    """The optimization runs this figure needs from the build: none (the reader's browser runs them)."""
    return []


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return thumbnails of the photos and the layers the page offers, with the exports it loads on demand."""
    p = spec.params
    model = model_for(LITE0)
    if list(spec.layers) != model.meta["stage_ends"]:
        raise ValueError(f"try_it offers Lite0's stage ends {model.meta['stage_ends']}, not {spec.layers}")
    tiles = {f"photo/{photo_key(path)}": to_uint8(load_photo(ROOT / path, p["thumb"]).permute(1, 2, 0).numpy())
             for path in spec.inputs}
    photos = [{"key": photo_key(path), "label": LABELS.get(photo_key(path)) or photo_label(path),
               "photo": f"photo/{photo_key(path)}", "file": web_export.photo_file(spec.id, photo_key(path))}
              for path in spec.inputs]
    layers = []
    for k, name in enumerate(spec.layers):
        lay = model.layer(name)
        layers.append({"key": name, "label": name.replace("block", "block "), "channels": lay.channels,
                       "stride": lay.stride, "parts": [web_export.part_file(LITE0, j) for j in range(k + 1)]})
    data = {"photos": photos, "layers": layers, "sizes": p["sizes"], "steps": p["step_choices"],
            "initial": {"photo": photos[0]["key"], "layer": p["layer"], "size": p["size"], "steps": p["steps"]},
            "lr": p["lr"], "seed": p["seed"],
            "exports": {"model": LITE0, "photos": {photo_key(path): path for path in spec.inputs},
                        "photo_size": p["photo_size"]}}
    metrics = {"size": p["size"], "steps": p["steps"], "lr": p["lr"], "layer": p["layer"],
               "layers": len(layers), "photos": len(photos)}
    return FigureResult(tiles={"photos": tiles}, data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": p})


if __name__ == "__main__":
    run_standalone(SPEC, make)
