"""Attribution caricatures toward a photo's classes (article section 50-attribution).

Reproduce: python build.py --only attribution_classes

For each photo the caricature objective is Σ A_opt·attr with attr = A·∂logit/∂A of the photo, held constant and
divided by its maximum (lucid's attribution caricatures), at three layers, toward the model's top class; for
photos the model finds ambiguous, toward each competing class and toward the difference of the top two logits.
Classes and their probabilities come from the model at its input size (224 px); optimization and attribution
run at `size`. Hovering a caricature overlays its attribution map (per-position magnitude) on the photo.

Remedies below the head (a table under the figure, numbers only): the top-class caricatures at `remedy_layers`
again with the objective times max(0.1, cos(A_opt, A_photo))^p for p = 1 and 2 (the true cosine to the photo's
own activation), and with feature accentuation's L2 penalty toward the photo's activation (attribution_accent;
the image still starts from noise).
"""
from __future__ import annotations

import numpy as np

from caricatures.classes import imagenet_classes
from caricatures.images import load_photo
from caricatures.objectives import ACCENT_WEIGHT
from figures import _common as common
from figures._attribution import heat_overlay, probabilities, top_iou
from figures._runs import CORE, layer_label
from sitegen.contract import ROOT, FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

SPEC = FigureSpec(
    id="attribution_classes", title="Attribution caricatures toward a photo's classes", view="classes",
    layout="l-page",
    caption="Attribution caricatures of Lite0 toward classes. Pick a photo and a layer; hover a class to see the "
            "caricature toward it; hover the caricature (or tick the box) to lay its attribution map over the photo. "
            "At block 10 and block 14, a row below shows the top-class caricature with the remedies the text "
            "describes, and the table gives their numbers over all photos.",
    inputs=("images/animals/panda.jpg", "images/animals/scarlet_macaw.jpg", "images/objects/coffee.jpg",
            "images/animals/koala.jpg", "images/objects/volleyball.jpg", "images/places/chateaudechenonceau.jpg",
            "images/objects/pillow.jpg"),
    models=("efficientnet_lite0",), layers=("block10", "block14", "head"), steps=CORE["steps"],
    # classes: how many of the top classes to caricature (default 1); a difference top-1 − top-2 goes with > 1;
    # extra_seeds: the top-class caricatures are run again with seeds seed+1 … seed+n (numbers only, no tiles)
    # remedies: the top-class caricatures at remedy_layers with the named run settings (see REMEDIES)
    params={"size": CORE["size"], "classes": {"chateaudechenonceau": 2, "pillow": 3}, "iou_top": 0.2, "extra_seeds": 2,
            "remedy_layers": ("block10", "block14")},
    quick={"inputs": ("images/animals/panda.jpg", "images/places/chateaudechenonceau.jpg"), "steps": 6,
           "params": {"size": 96, "extra_seeds": 1}},
)
REMEDIES = {  # key: (label in the table, run settings)
    "cos1": ("× cos¹ to the photo", {"cossim_pow": 1}),
    "cos2": ("× cos² to the photo", {"cossim_pow": 2}),
    "accent": ("− L2 toward the photo (accentuation)", {"objective": "attribution_accent"}),
}

REMEDY_LABELS = {"plain": "Σ A·attr (the figure)", **{k: v[0] for k, v in REMEDIES.items()}}


def targets(probs: np.ndarray, n: int, names: list[str]) -> list[dict]:
    """Return the class items to caricature: the top-n classes, then top-1 − top-2 when n > 1."""
    top = [int(k) for k in np.argsort(-probs)[:max(n, 1)]]
    items = [{"key": str(k), "label": names[k], "kind": "class", "prob": float(probs[k])} for k in top]
    if n > 1:
        items.append({"key": f"{top[0]}-{top[1]}", "label": f"{names[top[0]]} − {names[top[1]]}",
                      "kind": "difference"})
    return items


def _plan(spec: FigureSpec) -> list[tuple[str, list[dict]]]:
    """Return [(photo, the class items to caricature it toward)], from the model's probabilities at 224 px."""
    model, names = common.model_for(spec.models[0]), imagenet_classes()
    plan = []
    for path in spec.inputs:
        photo = load_photo(ROOT / path, model.input_size).permute(1, 2, 0).numpy()[None]
        logits_probs = probabilities(model, photo)[0]
        plan.append((path, targets(logits_probs, spec.params["classes"].get(common.photo_key(path), 1), names)))
    return plan


def _run(spec: FigureSpec, path: str, key: str, seed: int | None = None) -> Run:
    """Return the attribution caricature run of one photo toward class key "A" or "A-B" at all layers."""
    return caricature(common.ref(spec.models[0]), [path], spec.layers, steps=spec.steps, size=spec.params["size"],
                      attribution=f"logit:{key}", seed=spec.seed if seed is None else seed)


def _remedy_run(spec: FigureSpec, path: str, key: str, remedy: str) -> Run:
    """Return the top-class caricature run of one photo at the remedy layers with one remedy's settings."""
    return caricature(common.ref(spec.models[0]), [path], spec.params["remedy_layers"], steps=spec.steps,
                      size=spec.params["size"], attribution=f"logit:{key}", seed=spec.seed, **REMEDIES[remedy][1])


def _seeds(spec: FigureSpec) -> list[int]:
    return [spec.seed + k for k in range(1, spec.params["extra_seeds"] + 1)]


def runs(spec: FigureSpec) -> list[Run]:
    """Return one run per (photo, target), the top-class runs again with the extra seeds, and the remedies'."""
    plan = _plan(spec)
    return ([_run(spec, path, item["key"]) for path, items in plan for item in items] +
            [_run(spec, path, items[0]["key"], seed) for seed in _seeds(spec) for path, items in plan] +
            [_remedy_run(spec, path, items[0]["key"], r) for r in REMEDIES for path, items in plan])


def remedies(config, model, plan, spec) -> tuple[dict, dict, dict]:
    """Return (summary, cells, tiles) of the remedies.

    summary[objective][layer]: the mean over photos of p(top class | caricature) and of the caricature's cosine
    to the photo at the layer; objective "plain" is the figure's own caricatures, "photo" the photo itself at the
    caricatures' size (cosine 1), for scale: a caricature that stays near the photo inherits its class.
    cells[photo key][layer][objective]: that photo's tile, p and cosine (no "photo"); tiles: the new images.
    """
    layers = spec.params["remedy_layers"]
    cells, tiles, p_photo = {}, {}, []
    for path, items in plan:
        pk, top = common.photo_key(path), items[0]
        k = int(top["key"])
        p_photo.append(float(probabilities(model, common.one(config, _run(spec, path, top["key"]))["original"][None])
                             [0, k]))
        cells[pk] = {layer: {"plain": {"tile": top["cells"][layer]["tile"], "p": top["cells"][layer]["metrics"]["p_car"],
                                       "cosine": top["cells"][layer]["metrics"]["cosine"]}} for layer in layers}
        for remedy in REMEDIES:
            run = common.one(config, _remedy_run(spec, path, top["key"], remedy))
            probs = probabilities(model, run["images"])[:, k]
            for i, layer in enumerate(layers):
                tile = f"{pk}/{top['key']}/{remedy}/{layer}"
                tiles[tile] = run["images"][i]
                cells[pk][layer][remedy] = {"tile": tile, "p": float(probs[i]), "cosine": float(run["cosine"][i])}
    summary = {"photo": {layer: {"p": float(np.mean(p_photo)), "cosine": 1.0} for layer in layers}}
    for objective in ("plain", *REMEDIES):
        summary[objective] = {layer: {name: float(np.mean([c[layer][objective][name] for c in cells.values()]))
                                      for name in ("p", "cosine")} for layer in layers}
    return summary, cells, tiles


def seed_spread(config, model, plan, spec, seeds) -> dict[str, list[float]]:
    """Per layer, the mean p(top class | caricature) over photos for each seed (the figure's seed first)."""
    by_seed = {layer: [float(np.mean([items[0]["cells"][layer]["metrics"]["p_car"] for _, items in plan]))]
               for layer in spec.layers}
    for seed in seeds:
        runs = [common.one(config, _run(spec, path, items[0]["key"], seed)) for path, items in plan]
        probs = [probabilities(model, run["images"])[:, int(items[0]["key"])] for run, (_, items) in zip(runs, plan)]
        for i, layer in enumerate(spec.layers):
            by_seed[layer].append(float(np.mean([p[i] for p in probs])))
    return by_seed


REACHES, MISSES = 0.5, 0.05   # "reaches its class": mean p(class) at least this; "does not": below this


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Run one caricature per (photo, target) at all layers jointly; pack caricatures, overlays and metrics."""
    model, size = common.model_for(spec.models[0]), spec.params["size"]
    plan, seeds = _plan(spec), _seeds(spec)
    tiles = {"photo": {}, "caricatures": {}, "attribution": {}}
    panels, p_car, ious = {}, {layer: [] for layer in spec.layers}, {layer: [] for layer in spec.layers}
    diff = {layer: [] for layer in spec.layers}   # (p(a), p(b)) of the caricatures toward logit a − logit b
    for path, items in plan:
        pk = common.photo_key(path)
        maps = {}
        for item in items:
            run = common.one(config, _run(spec, path, item["key"]))
            tiles["photo"][f"photo/{pk}"] = run["original"]
            probs = probabilities(model, run["images"])
            a, _, b = item["key"].partition("-")
            item["cells"] = {}
            for i, layer in enumerate(spec.layers):
                tile = f"{pk}/{item['key']}/{layer}"
                tiles["caricatures"][tile] = run["images"][i]
                tiles["attribution"][f"attr/{tile}"] = heat_overlay(run["original"], run[f"attribution_map_{i}"])
                metrics = {"p_car": float(probs[i, int(a)]), "cosine": float(run["cosine"][i])}
                if b:
                    metrics["p_b"] = float(probs[i, int(b)])
                    diff[layer].append((metrics["p_car"], metrics["p_b"]))
                else:
                    p_car[layer].append(metrics["p_car"])
                item["cells"][layer] = {"tile": tile, "attribution": f"attr/{tile}", "metrics": metrics}
            maps[item["key"]] = [run[f"attribution_map_{i}"] for i in range(len(spec.layers))]
        if len(items) > 1:   # where do the two top classes draw their evidence from?
            for i, layer in enumerate(spec.layers):
                ious[layer].append(top_iou(maps[items[0]["key"]][i], maps[items[1]["key"]][i],
                                           spec.params["iou_top"]))
        for item in items:
            if item["kind"] == "difference":
                first, second = (x["prob"] for x in items[:2])
                item["value"] = f"{first:.0%} vs {second:.0%}"
        panels[pk] = {"items": items, "initial": items[0]["key"]}
    by_seed = seed_spread(config, model, plan, spec, seeds)
    fixes, remedy_cells, remedy_tiles = remedies(config, model, plan, spec)
    tiles["caricatures"].update(remedy_tiles)
    layers = [{"key": n, "label": layer_label(model, n, size), "short": n.replace("block", "block ")} for n in spec.layers]
    photos = [{"key": common.photo_key(p), "label": common.photo_label(p),
               "photo": f"photo/{common.photo_key(p)}"} for p, _ in plan]
    data = {"photos": photos, "layers": layers, "panels": panels, "overlay_opacity": 1,
            "overlay_label": "Show the attribution map on the photo",
            "metric_defs": [{"key": "p_car", "label": "p(class | caricature)", "format": ".0%"},
                            {"key": "p_b", "label": "p(second class | caricature)", "format": ".0%"},
                            {"key": "cosine", "label": "cos to photo", "format": ".2f"}],
            "table": remedy_table(fixes, spec.params["remedy_layers"], len(plan)),
            "remedy_cells": remedy_cells, "remedy_labels": REMEDY_LABELS,
            "initial": {"photo": next((p["key"] for p in photos if len(panels[p["key"]]["items"]) > 1),
                                      photos[0]["key"]), "layer": spec.layers[-1]}}
    metrics = {"photos": len(plan), "caricatures": sum(len(i) for _, i in plan) * len(spec.layers),
               "ambiguous": sum(len(i) > 1 for _, i in plan), "size": size, "steps": spec.steps,
               "seeds": 1 + len(seeds), "iou_top_pct": round(100 * spec.params["iou_top"]),
               "iou_chance": spec.params["iou_top"] / (2 - spec.params["iou_top"]),
               **{f"grid_{n}": model.shape(n, size)[-1] for n in spec.layers}}
    for layer in spec.layers:
        metrics[f"p_car_{layer}"] = float(np.mean(p_car[layer]))
        metrics[f"p_car_min_{layer}"] = float(np.min(p_car[layer]))
        metrics[f"p_car_seed_lo_{layer}"], metrics[f"p_car_seed_hi_{layer}"] = min(by_seed[layer]), max(by_seed[layer])
        if ious[layer]:
            metrics[f"iou_competing_{layer}"] = float(np.mean(ious[layer]))
        if diff[layer]:
            metrics[f"p_diff_a_min_{layer}"] = float(min(a for a, _ in diff[layer]))
            metrics[f"p_diff_b_max_{layer}"] = float(max(b for _, b in diff[layer]))
    head, below = spec.layers[-1], spec.layers[:-1]
    metrics["reaches_class_only_at_head"] = bool(metrics[f"p_car_{head}"] >= REACHES and all(
        metrics[f"p_car_{n}"] < MISSES for n in below))
    if not config.quick:   # the abstract and the introduction say so in words: the data must still agree
        assert metrics["reaches_class_only_at_head"], (
            f"attribution caricatures: p(class) {metrics[f'p_car_{head}']:.3f} at {head}, "
            f"{[round(metrics[f'p_car_{n}'], 4) for n in below]} below it; the abstract and introduction say the "
            "class is reached at the head only: reword them (article/index.md)")
    metrics["p_car_max_below_head"] = max(metrics[f"p_car_{n}"] for n in below)
    metrics["remedies"] = fixes
    metrics["remedy_layers"] = list(spec.params["remedy_layers"])
    metrics["accent_weight"] = ACCENT_WEIGHT
    for path, items in plan:
        if len(items) > 1:
            pk = common.photo_key(path)
            metrics[f"{pk}_p1"], metrics[f"{pk}_p2"] = items[0]["prob"], items[1]["prob"]
            metrics[f"{pk}_c1"], metrics[f"{pk}_c2"] = items[0]["label"], items[1]["label"]
    return FigureResult(tiles=tiles, data=data, metrics=metrics,
                        notes={"models": common.models_note(model), "size": size, "steps": spec.steps,
                               "objective": "Σ A_opt·attr, attr = A·∂logit/∂A / max (held constant)",
                               "remedies": {k: {"label": v[0], **v[1]} for k, v in REMEDIES.items()}})


def remedy_table(fixes: dict, layers, photos: int) -> dict:
    """Return the table under the figure: per objective, p(top class) and cosine to the photo at each layer."""
    labels = {"photo": "the photo itself", **REMEDY_LABELS}
    title = {n: n.replace("block", "block ") for n in layers}
    columns = ([{"key": f"p/{n}", "label": f"p · {title[n]}", "format": ".2%", "layer": n} for n in layers] +
               [{"key": f"cos/{n}", "label": f"cos · {title[n]}", "format": ".2f", "layer": n} for n in layers])
    rows = [{"key": k, "label": labels[k], "values": {**{f"p/{n}": v[n]["p"] for n in layers},
                                                      **{f"cos/{n}": v[n]["cosine"] for n in layers}}}
            for k, v in fixes.items()]
    return {"label": f"Remedies below the head: p(top class | caricature) and cosine to the photo at the layer, "
                     f"mean over the {photos} photos", "row_label": "objective", "columns": columns, "rows": rows}


if __name__ == "__main__":
    run_standalone(SPEC, make)
