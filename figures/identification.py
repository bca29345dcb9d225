"""Figure `identification` (section "A hundred caricatures"): is a caricature about its photo, or about what
the layer likes in any photo? Each of the hundred-photo study's caricatures ranks all its photos by
similarity; how often is its own photo first (top-1) or among the first five (top-5)? Judged by the network
that made it (raw and centred cosine), by another network at a similar depth (MobileNetV2, centred: not
circular) and in pixels (centred). Beside it, the references that every cosine and gain of the article is
read against: an unrelated photo (chance), the photo under the optimization's own random transforms (the
ceiling), and one-line edits of the photo (contrast ×1.5, saturation ×1.5, an unsharp mask). Every mean and
share over photos carries a seeded bootstrap 95% interval.

Reproduce: python build.py --only identification   (alone: python -m figures.identification [--quick])

Its caricatures are the hundred-photo study's runs (figure `scale`), so the two share them. Its one run of its
own makes the photo-free baseline: DeepDream's objective, ‖A‖² at each layer, with the same recipe and
`batch` random starts (the run's photos are carried but never read), about 8,000 caricature-steps in full.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from caricatures.metrics import bootstrap_interval, cosine_matrix, own_ranks
from caricatures.transforms import build_transforms
from figures._common import all_photos, model_for, models_note, one, photo_set, ref
from figures._measures import to_tensor
from figures._runs import CORE, LITE0, hundred_run, short_label
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, run_standalone
from sitegen.runs import Run, caricature

PHOTOS = all_photos()
SETS = ("animals", "objects", "places")
JUDGE = "mobilenet_v2"
PIXEL_SIDE = 56            # pixels are compared at 56 × 56 (area-averaged): the layout, not the grain
BOOTSTRAP = {"n": 2000, "seed": 0}
SPEC = FigureSpec(   # the hundred-photo study's spec (figure `scale`): the same runs, computed once
    id="identification", title="Is a caricature about its photo?", view="chart", layout="l-body",
    inputs=PHOTOS, models=(LITE0, JUDGE), layers=("block2", "block4", "block7", "block14"), steps=CORE["steps"],
    params={"size": CORE["size"], "lr": CORE["lr"], "batch": CORE["batch"]},
    caption="Top: how often a caricature's own photo is the most similar of all the photos (top-1), at each "
            "layer, judged in the network that made it, in another network at a similar depth and in pixels; "
            "chance is 1 in the number of photos. Below: the caricatures' cosine and gain in Lite0 beside their "
            "references: an unrelated photo, an image made with no photo (maximizing ‖A‖² at the layer, as "
            "DeepDream does), the photo under the optimization's random transforms, and three one-line edits of "
            "the photo. Hover or tab to a point for its 95% interval over photos.",
    quick={"inputs": tuple(p for s in SETS for p in [x for x in PHOTOS if photo_set(x) == s][:1]),
           "layers": ("block2", "block14"), "steps": 4, "params": {"size": 64}})

EDITS = ("contrast ×1.5", "saturation ×1.5", "unsharp mask")


def photo_free_run(spec: FigureSpec) -> Run:
    """Return the run of the photo-free images: ‖A‖² maximized at each layer from `batch` random starts."""
    p = spec.params
    return caricature(ref(LITE0), spec.inputs[:p["batch"]], spec.layers, steps=spec.steps, size=p["size"],
                      lr=p["lr"], seed=spec.seed, objective="energy")


def hundred_runs(spec: FigureSpec) -> list[Run]:
    """Return the hundred-photo study's runs (figure `scale` declares the same ones)."""
    return list(dict.fromkeys(hundred_run(spec, path)[0] for path in spec.inputs))


def runs(spec: FigureSpec) -> list[Run]:
    return [*hundred_runs(spec), photo_free_run(spec)]


def edit(photos: torch.Tensor, kind: str) -> torch.Tensor:
    """Return a one-line exaggeration of photos (N, 3, S, S) in [0, 1]."""
    if kind == EDITS[0]:
        mean = photos.mean((1, 2, 3), keepdim=True)
        return (mean + 1.5 * (photos - mean)).clamp(0, 1)
    if kind == EDITS[1]:
        grey = photos.mean(1, keepdim=True)
        return (grey + 1.5 * (photos - grey)).clamp(0, 1)
    blur = F.avg_pool2d(F.pad(photos, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return (photos + 1.0 * (photos - blur)).clamp(0, 1)


def transformed(photos: torch.Tensor, seed: int) -> torch.Tensor:
    """Return each photo under one draw of the optimization's random transforms (the ceiling's copies)."""
    trans = build_transforms("standard", photos.shape[-1], seed)
    return torch.cat([trans(photos[i:i + 1], trans.draw()) for i in range(len(photos))])


def activations(model, images: torch.Tensor, layer: str, chunk: int = 16) -> np.ndarray:
    """Return float64 activations (N, …) of images at one layer, a chunk at a time."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), chunk):
            out.append(model.activations(images[i:i + chunk], [layer])[layer].double().numpy())
    return np.concatenate(out)


def interval(values, statistic=np.mean) -> list[float]:
    return [round(v, 4) for v in bootstrap_interval(values, statistic, **BOOTSTRAP)]


def identification(similarity: np.ndarray) -> dict:
    """Top-1 and top-5 shares of a caricatures × photos similarity matrix, each with its interval."""
    ranks = own_ranks(similarity)
    top1, top5 = (ranks == 1).astype(float), (ranks <= 5).astype(float)
    return {"top1": float(top1.mean()), "top1_ci": interval(top1), "top5": float(top5.mean()),
            "top5_ci": interval(top5), "median_rank": float(np.median(ranks))}


def mean_ci(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "ci": interval(v)}


def gains(images: np.ndarray, photos: np.ndarray) -> np.ndarray:
    """Each image's gain against its own photo: ⟨A_img, A_photo⟩ / ‖A_photo‖²."""
    x, y = images.reshape(len(images), -1), photos.reshape(len(photos), -1)
    return (x * y).sum(1) / (y * y).sum(1)


def pixels(images: torch.Tensor) -> np.ndarray:
    return F.adaptive_avg_pool2d(images, PIXEL_SIDE).double().numpy()


def measure(spec: FigureSpec, config: FigureConfig) -> dict:
    """Every number of the figure, per layer: identification by each judge and the cosine and gain references."""
    model, judge = model_for(LITE0), model_for(JUDGE)
    results = [one(config, *hundred_run(spec, path)) for path in spec.inputs]
    photos = to_tensor(np.stack([r["original"] for r in results]))
    copies = transformed(photos, spec.seed + 104729)
    edited = {kind: edit(photos, kind) for kind in EDITS}
    photo_px = pixels(photos)
    free = config.result(photo_free_run(spec))["images"]          # (batch, layers, S, S, 3)
    out = {}
    for i, layer in enumerate(spec.layers):
        cars = to_tensor(np.stack([r["images"][i] for r in results]))
        a_photo, a_car = activations(model, photos, layer), activations(model, cars, layer)
        centre = a_photo.mean(0)
        other = judge.meta["stage_ends"][model.meta["stage_ends"].index(layer)]
        j_photo, j_car = activations(judge, photos, other), activations(judge, cars, other)
        raw = cosine_matrix(a_car, a_photo)
        centred = cosine_matrix(a_car, a_photo, centre)
        own, off = np.diag(raw), raw[~np.eye(len(raw), dtype=bool)]
        row = {
            "judge_layer": other,
            "ident": {"own_raw": identification(raw), "own_centred": identification(centred),
                      "other": identification(cosine_matrix(j_car, j_photo, j_photo.mean(0))),
                      "pixels": identification(cosine_matrix(pixels(cars), photo_px, photo_px.mean(0)))},
            "cosine": mean_ci(own), "cos2": mean_ci(own ** 2), "cosine_centred": mean_ci(np.diag(centred)),
            "gain": mean_ci(gains(a_car, a_photo)),
            "unrelated_median": float(np.median(off)),
            "unrelated_median_centred": float(np.median(centred[~np.eye(len(raw), dtype=bool)])),
            "ceiling": mean_ci(np.diag(cosine_matrix(activations(model, copies, layer), a_photo))),
            "edits": {},
        }
        a_free = activations(model, to_tensor(free[:, i]), layer)
        free_cos = cosine_matrix(a_free, a_photo)                   # (images, photos)
        row["photo_free"] = {"cosine": mean_ci(free_cos.mean(0)), "images": len(free)}
        for kind, images in edited.items():
            a_edit = activations(model, images, layer)
            row["edits"][kind] = {"cosine": mean_ci(np.diag(cosine_matrix(a_edit, a_photo))),
                                  "gain": mean_ci(gains(a_edit, a_photo))}
        out[layer] = row
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _tip(ident: dict) -> str:
    lo, hi = ident["top1_ci"]
    lo5, hi5 = ident["top5_ci"]
    return (f"top-1 {_pct(ident['top1'])} (95% CI {_pct(lo)}–{_pct(hi)}); top-5 {_pct(ident['top5'])} "
            f"({_pct(lo5)}–{_pct(hi5)})")


def _mean_tip(m: dict, fmt: str = ".2f") -> str:
    return f"{m['mean']:{fmt}} (95% CI {m['ci'][0]:{fmt}}–{m['ci'][1]:{fmt}})"


def chart(spec: FigureSpec, rows: dict, n: int) -> dict:
    """The chart view's data: identification, cosine and gain panels over the layers."""
    layers = list(spec.layers)
    judges = [("own_raw", "Lite0 (made it), cosine", 0, "light"), ("own_centred", "Lite0 (made it), centred", 0, None),
              ("other", "MobileNetV2, centred", 1, None), ("pixels", "pixels, centred", 2, None)]
    ident = [{"key": k, "label": label, "kind": "line", "color": c, **({"shade": s} if s else {}),
              "points": [[layer, rows[layer]["ident"][k]["top1"], _tip(rows[layer]["ident"][k])] for layer in layers]}
             for k, label, c, s in judges]
    cosine = [{"key": "car", "label": "caricature (in Lite0)", "kind": "line", "color": 0,
               "points": [[layer, rows[layer]["cosine"]["mean"], _mean_tip(rows[layer]["cosine"])] for layer in layers]},
              {"key": "unrelated", "label": "an unrelated photo (median)", "kind": "line", "color": 5,
               "points": [[layer, rows[layer]["unrelated_median"], "chance level"] for layer in layers]},
              {"key": "free", "label": "a photo-free image (‖A‖²)", "kind": "line", "color": 2,
               "points": [[layer, rows[layer]["photo_free"]["cosine"]["mean"],
                           _mean_tip(rows[layer]["photo_free"]["cosine"])] for layer in layers]},
              {"key": "ceiling", "label": "the photo, transformed", "kind": "line", "color": 3,
               "points": [[layer, rows[layer]["ceiling"]["mean"], _mean_tip(rows[layer]["ceiling"])]
                          for layer in layers]}]
    gain = [{"key": "car", "label": "caricature (in Lite0)", "kind": "line", "color": 0,
             "points": [[layer, rows[layer]["gain"]["mean"], _mean_tip(rows[layer]["gain"])] for layer in layers]}]
    for k, kind in enumerate(EDITS):
        key = f"edit{k}"
        shade = {"shade": "light"} if k else {}
        cosine.append({"key": key, "label": kind, "kind": "points", "color": 4, **shade,
                       "points": [[layer, rows[layer]["edits"][kind]["cosine"]["mean"],
                                   _mean_tip(rows[layer]["edits"][kind]["cosine"])] for layer in layers]})
        gain.append({"key": key, "label": kind, "kind": "points", "color": 4, **shade,
                     "points": [[layer, rows[layer]["edits"][kind]["gain"]["mean"],
                                 _mean_tip(rows[layer]["edits"][kind]["gain"])] for layer in layers]})
    return {"x": {"label": "layer of Lite0", "scale": "category",
                  "categories": [{"key": n, "label": n.replace("block", "block "), "short": short_label(n)}
                                 for n in layers]},
            "panels": [{"y": {"label": "top-1 identification", "format": ".0%", "tick_format": ".0%", "min": 0,
                              "max": 1, "refs": [{"value": 1 / n, "label": f"chance (1 in {n})"}]},
                        "series": ident},
                       {"y": {"label": "cosine to the photo", "format": ".2f"}, "series": cosine},
                       {"y": {"label": "gain", "format": ".2f", "refs": [{"value": 1, "label": "1× = the photo"}]},
                        "series": gain}],
            "panel_height": 130}


def make(spec: FigureSpec, config: FigureConfig) -> FigureResult:
    """Return the chart and every number of it (with intervals) as metrics."""
    rows = measure(spec, config)
    n = len(spec.inputs)
    judges = ("own_raw", "own_centred", "other", "pixels")
    at_chance = {k: [layer for layer in spec.layers if rows[layer]["ident"][k]["top1_ci"][0] <= 1 / n]
                 for k in judges}   # where the interval's lower end does not clear chance
    above = {k: not at_chance[k] for k in judges}
    beats_edits = [layer for layer in spec.layers
                   if all(rows[layer]["gain"]["ci"][0] > e["gain"]["ci"][1] for e in rows[layer]["edits"].values())]
    metrics = {"photos": n, "chance_top1": 1 / n, "chance_top5": min(5, n) / n, "layers": list(spec.layers),
               "judge": JUDGE, "pixel_side": PIXEL_SIDE, "bootstrap": BOOTSTRAP, "edits": list(EDITS),
               "above_chance_at_every_layer": above, "at_chance": at_chance, "gain_beats_every_edit": beats_edits,
               "rows": rows}
    return FigureResult(data=chart(spec, rows, n), metrics=metrics,
                        notes={"models": models_note(model_for(LITE0), model_for(JUDGE)),
                               "settings": {**spec.params, "steps": spec.steps, "layers": list(spec.layers)}})


if __name__ == "__main__":
    run_standalone(SPEC, make)
