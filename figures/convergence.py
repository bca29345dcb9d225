"""Figure `convergence` (methods appendix of "How a caricature is made"): objective, gain and cosine of
Lite0 caricatures against optimization steps, averaged over two photos, one line per layer. It shows
what the article's figures, at lucid's 512 steps, would lose with shorter runs.

Reproduce: python build.py --only convergence   (alone: python -m figures.convergence [--quick])
"""
from __future__ import annotations

import numpy as np

from figures._common import COMPARE, model_for, models_note, one
from figures._measures import image_metrics, relative_curve
from figures._runs import LITE0, STUDY, STUDY_QUICK, short_label, study_run
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run

SPEC = FigureSpec(
    id="convergence", title="How fast caricatures converge", view="chart", layout="l-body",
    inputs=COMPARE[:2], models=(LITE0,), layers=tuple(STUDY["layers"]), steps=STUDY["steps"],
    params={"study": STUDY, "every": 16, "marks": {"quarter": 128, "half": 256}},
    caption="Against optimization steps, for each layer (mean over two photos): the objective on the randomly "
            "transformed images the optimizer sees, as a fraction of its final value; and the gain and cosine "
            "of the image at that step, untransformed. Hover, tap or tab to a point for its value.",
    quick={"inputs": COMPARE[:2], "layers": tuple(STUDY_QUICK["layers"]), "steps": STUDY_QUICK["steps"],
           "params": {"study": STUDY_QUICK, "every": 2, "marks": {"quarter": 4, "half": 8}}})


def runs(spec: FigureSpec) -> list[Run]:
    """Return the convergence-study run of each photo."""
    return [study_run(spec, photo) for photo in spec.inputs]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return three chart panels (objective, gain, cosine vs steps) with one mean series per layer."""
    model, study, every = model_for(LITE0), spec.params["study"], spec.params["every"]
    layers = study["layers"]
    objective, gain, cosine = [], [], []   # per photo: (points, L), (snapshots, L), (snapshots, L)
    for photo in spec.inputs:
        run = one(config, study_run(spec, photo))
        objective.append(np.array([[v for _, v in relative_curve(run["history"][:, i], every)]
                                   for i in range(len(layers))]).T)
        shots = run["snapshots"]                       # (K, L, S, S, 3)
        flat = image_metrics(model, run["original"], shots.reshape(-1, *shots.shape[2:]),
                             layers * shots.shape[0])
        gain.append(np.array([m["gain"] for m in flat]).reshape(shots.shape[:2]))
        cosine.append(np.array([m["cosine"] for m in flat]).reshape(shots.shape[:2]))
    steps_obj = list(range(every, study["steps"] + 1, every))
    snaps = run["snapshot_steps"].tolist()
    obj, g, c = (np.mean(a, axis=0) for a in (objective, gain, cosine))

    def series(values: np.ndarray, xs: list[int]) -> list[dict]:
        return [{"key": n, "label": short_label(n), "kind": "line",
                 "points": [[x, round(float(v), 4)] for x, v in zip(xs, values[:, i])]}
                for i, n in enumerate(layers)]

    data = {"x": {"label": "optimization steps", "scale": "linear", "format": "d",
                  "ticks": sorted({0, *spec.params["marks"].values(), study["steps"] // 2, study["steps"]})},
            "panels": [{"y": {"label": "objective ÷ final objective", "format": ".2f", "min": 0},
                        "series": series(obj, steps_obj)},
                       {"y": {"label": "gain", "format": ".2f", "min": 0}, "series": series(g, snaps)},
                       {"y": {"label": "cosine", "format": ".2f", "min": 0}, "series": series(c, snaps)}],
            "panel_height": 130}
    at = {s: i for i, s in enumerate(snaps)}
    metrics = {"photos": len(spec.inputs), "layers": len(layers), "steps": study["steps"], "size": study["size"],
               "gain": {str(s): float(g[at[s]].mean()) for s in snaps},
               "cosine": {str(s): float(c[at[s]].mean()) for s in snaps},
               "objective": {str(s): float(obj[s // every - 1].mean()) for s in snaps if s >= every}}
    for name, s in spec.params["marks"].items():   # how much of the full run's result a shorter run reaches
        metrics[f"steps_{name}"] = s
        metrics[f"gain_share_{name}"] = float(g[at[s]].mean() / g[-1].mean())
        metrics[f"cosine_share_{name}"] = float(c[at[s]].mean() / c[-1].mean())
    return FigureResult(data=data, metrics=metrics,
                        notes={"models": models_note(model), "settings": {**study, "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
