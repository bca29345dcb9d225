"""Figure `progress` (section "How a caricature is made"): one caricature at snapshots of its optimization,
from the random initial image (step 0) to lucid's 512 steps, with its cosine and gain at each snapshot.

Reproduce: python build.py --only progress   (alone: python -m figures.progress [--quick])

It shows one run of the convergence study (`_runs.STUDY`), which the `convergence` figure averages.
"""
from __future__ import annotations

from figures._common import COMPARE, model_for, models_note, one, photo_label
from figures._measures import image_metrics
from figures._runs import LITE0, STUDY, STUDY_QUICK, layer_label, study_run
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run

SPEC = FigureSpec(
    id="progress", title="A caricature during its optimization", view="strip", layout="l-page",
    inputs=COMPARE[:1], models=(LITE0,), layers=("block7",), steps=STUDY["steps"],
    params={"study": STUDY, "marks": {"early": 16, "quarter": 128}},
    caption="One caricature (the panda at Lite0's block 7) as the optimizer leaves its random start. Drag the "
            "slider, hover a step or use the arrow keys; the inspector shows the photo beside that step's "
            "image with its cosine and gain at the layer.",
    quick={"layers": ("block7",), "steps": STUDY_QUICK["steps"],
           "params": {"study": STUDY_QUICK, "marks": {"early": 4, "quarter": 8}}})


def runs(spec: FigureSpec) -> list[Run]:
    """Return the convergence-study run of the photo (shared with `convergence`)."""
    return [study_run(spec, spec.inputs[0])]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return the snapshots of one study run at one layer as strip items, with their metrics."""
    model, study = model_for(LITE0), spec.params["study"]
    layer, photo = spec.layers[0], spec.inputs[0]
    run = one(config, study_run(spec, photo))
    i = study["layers"].index(layer)
    shots = run["snapshots"][:, i]
    measured = image_metrics(model, run["original"], shots, [layer] * len(shots))
    tiles, items = {}, []
    for step, image, m in zip(run["snapshot_steps"].tolist(), shots, measured):
        tiles[f"step/{step}"] = image
        items.append({"key": f"s{step}", "label": f"{step}", "tile": f"step/{step}",
                      "title": f"step {step} of {study['steps']}", "metrics": m})
    data = {"items": items, "reference": {"label": photo_label(photo), "tile": "photo"}, "slider": True,
            "slider_label": "Step", "inspector": True, "initial": items[-1]["key"],
            "metric_defs": [{"key": "cosine", "label": "cosine", "format": ".2f"},
                            {"key": "gain", "label": "gain", "format": ".2f", "suffix": "×"}]}
    by_step = dict(zip(run["snapshot_steps"].tolist(), measured))
    marks = {"start": 0, **spec.params["marks"], "end": study["steps"]}
    metrics = {"layer": layer, "layer_label": layer_label(model, layer, study["size"]),
               "photo": photo_label(photo), "size": study["size"], "steps": marks,
               **{f"{name}_{k}": by_step[s][name] for k, s in marks.items() for name in ("cosine", "gain")}}
    return FigureResult(tiles={"steps": tiles, "photo": {"photo": run["original"]}}, data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": {**study, "cossim_pow": 0,
                                                                          "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
