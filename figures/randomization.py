"""Figure `randomization` (section "Across models"): a cascading randomization in the manner of sanity checks
for saliency maps: Lite0's stages are re-initialized from the top down, one more at each step, and the
photo is caricatured at a fixed middle layer (block 7) after each step.

Reproduce: python build.py --only randomization   (alone: python -m figures.randomization [--quick])

Stages above the layer cannot change its caricature; one step re-initializes all of them at once to show
that, then the cascade goes on one stage at a time down to the stem.
"""
from __future__ import annotations

from figures._common import COMPARE, model_for, models_note, one, photo_label, ref
from figures._measures import image_metrics, pixel_correlation
from figures._runs import CORE, CORE_QUICK, LITE0, short_label
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

SPEC = FigureSpec(
    id="randomization", title="Caricatures under cascading randomization", view="strip", layout="l-page",
    inputs=COMPARE[:1], models=(LITE0,), layers=("block7",), steps=CORE["steps"],
    params={"size": CORE["size"], "lr": CORE["lr"], "cascade": "all"},
    caption="Left to right, Lite0 keeps fewer trained blocks: first everything above block 7 is "
            "re-initialized, then block 7, block 6, … down to the stem. Each tile is a fresh caricature at "
            "block 7. *corr→trained* is its pixel correlation with the trained network's caricature and "
            "*corr→photo* with the photo; *cos→trained* is the cosine between its activation and the trained "
            "caricature's at block 7 of the trained network.",
    quick={"steps": CORE_QUICK["steps"], "params": {"size": CORE_QUICK["size"], "cascade": 2}})


def cascade(layer: str, stages: list[str], limit: int | str) -> list[tuple[str, tuple[str, ...]]]:
    """Return [(label, re-initialized stages)]: trained, all stages above `layer`, then one more each step."""
    at = stages.index(layer)
    above, below = tuple(stages[at + 1:][::-1]), stages[:at + 1][::-1]
    steps = [("trained", ()), ("above", above)]
    for i, name in enumerate(below if limit == "all" else below[:limit]):
        steps.append((name, above + tuple(below[:i + 1])))
    return steps


def _plan(spec: FigureSpec) -> list[tuple[str, tuple[str, ...]]]:
    stages = [n for n, lay in model_for(LITE0).layers.items() if lay.module is None]
    return cascade(spec.layers[0], stages, spec.params["cascade"])


def _run(spec: FigureSpec, reinit: tuple[str, ...]) -> Run:
    p = spec.params
    return caricature(ref(LITE0, reinit=reinit), spec.inputs[:1], spec.layers[:1], steps=spec.steps,
                      size=p["size"], lr=p["lr"], seed=spec.seed)


def runs(spec: FigureSpec) -> list[Run]:
    """Return one run per step of the cascade: trained, then more and more stages re-initialized."""
    return [_run(spec, re) for _, re in _plan(spec)]


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return one strip item per cascade step, with similarity to the trained caricature."""
    layer, photo, p = spec.layers[0], spec.inputs[0], spec.params
    trained = model_for(LITE0)
    plan = _plan(spec)
    runs = [one(config, _run(spec, re)) for _, re in plan]
    ref = runs[0]["images"][0]
    in_trained = image_metrics(trained, runs[0]["original"], ref[None], [layer])[0]
    tiles, items, metrics = {}, [], {"steps": spec.steps, "size": p["size"], "layer": layer,
                                     "photos": len(spec.inputs[:1]), "photo": photo_label(photo), "corr": {},
                                     "cos_to_trained": {}, "gain": {}, "corr_photo": {}}
    for (name, re), run in zip(plan, runs):
        image = run["images"][0]
        both = image_metrics(trained, ref, image[None], [layer])[0]   # activation cosine to the trained one
        m = {"corr": pixel_correlation(image, ref), "cos_trained": both["cosine"], "gain": run["gain"][0],
             "corr_photo": pixel_correlation(image, run["original"])}
        short = {"trained": "trained", "above": f"above {short_label(layer)}"}
        label = short.get(name, f"−{short_label(name)}")
        title = {"trained": "trained network", "above": f"stages above {layer} re-initialized"}.get(
            name, f"re-initialized from the top down to {name}")
        tiles[f"cascade/{name}"] = image
        items.append({"key": name, "label": label, "title": title, "tile": f"cascade/{name}", "metrics": m})
        for k, v in (("corr", "corr"), ("cos_to_trained", "cos_trained"), ("gain", "gain"),
                     ("corr_photo", "corr_photo")):
            metrics[k][name] = m[v]
    metrics["above_identical"] = bool((runs[1]["images"] == runs[0]["images"]).all())
    cascade_names = [name for name, _ in plan[2:]]   # named points of the cascade for the text
    metrics["marks"] = {k: {"name": n, **next(it["metrics"] for it in items if it["key"] == n)}
                        for k, n in (("first", cascade_names[0]), ("middle", cascade_names[len(cascade_names) // 2]),
                                     ("last", cascade_names[-1]),
                                     ("lowest", min(cascade_names, key=metrics["corr"].__getitem__)))}
    metrics["trained_cosine"] = in_trained["cosine"]
    data = {"items": items, "reference": {"label": photo_label(photo), "tile": "photo"}, "slider": True,
            "slider_label": "Re-initialized", "inspector": True, "initial": items[0]["key"],
            "metric_defs": [{"key": "corr", "label": "corr→trained", "format": ".2f"},
                            {"key": "cos_trained", "label": "cos→trained", "format": ".2f"},
                            {"key": "corr_photo", "label": "corr→photo", "format": ".2f"},
                            {"key": "gain", "label": "own gain", "format": ".2f", "suffix": "×"}]}
    return FigureResult(tiles={"cascade": tiles, "photo": {"photo": runs[0]["original"]}}, data=data,
                        metrics=metrics, notes={"models": models_note(trained),
                                                "settings": {**p, "steps": spec.steps, "layer": layer,
                                                             "reinit_seed": 0, "plan": plan, "seed": spec.seed}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
