"""Numbers part 1's figures compute from finished caricatures: re-evaluation in a model, pixel correlation,
per-layer summaries and convergence curves. Pure functions of arrays (and a frozen model); no optimization.

Images are (N, S, S, 3) uint8 or float in [0, 1]; cosine and gain are `caricatures.metrics.compare`'s.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from caricatures.metrics import compare
from caricatures.models.base import Model

ADAM_EPS = 1e-8   # torch.optim.Adam's default, which the engine uses


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """Return images (N, S, S, 3) uint8 or float as a float32 (N, 3, S, S) tensor in [0, 1]."""
    arr = np.asarray(images)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)


@torch.no_grad()
def image_metrics(model: Model, photo: np.ndarray, images: np.ndarray, layers: Sequence[str]) -> list[dict]:
    """Return cosine and gain of images[i] against `photo` at layers[i] in `model` (one forward pass)."""
    if len(images) != len(layers):
        raise ValueError(f"{len(images)} images but {len(layers)} layers: give one layer per image")
    batch = torch.cat([to_tensor(np.asarray(photo)[None]), to_tensor(images)])
    acts = model.activations(batch, list(dict.fromkeys(layers)))
    return [compare(acts[name][1 + i], acts[name][0]) for i, name in enumerate(layers)]


def pixel_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Pearson correlation of two images' pixel values (0 when either is constant)."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {np.shape(a)} vs {np.shape(b)}")
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / den) if den > 0 else 0.0


def spread_over_seeds(images: Sequence[np.ndarray], cosines: Sequence[float], gains: Sequence[float]
                      ) -> dict[str, float]:
    """Return how one caricature varies with the seed: the range (max − min) of its cosine and of its gain over
    the seeds, and the mean pixel correlation between the images of every pair of seeds."""
    if not len(images) == len(cosines) == len(gains) >= 2:
        raise ValueError(f"need the same number (≥ 2) of images, cosines and gains, got "
                         f"{len(images)}, {len(cosines)}, {len(gains)}")
    pairs = [pixel_correlation(images[a], images[b]) for a in range(len(images)) for b in range(a + 1, len(images))]
    return {"cosine_range": float(np.ptp(cosines)), "gain_range": float(np.ptp(gains)),
            "seed_pixel_r": float(np.mean(pairs))}


@torch.no_grad()
def top_classes(model: Model, images: np.ndarray) -> np.ndarray:
    """Return the index of the class with the largest logit for each image (N, S, S, 3)."""
    from caricatures.attribution import logits_layer
    return model.activations(to_tensor(images), [logits_layer(model)])[logits_layer(model)].argmax(-1).numpy()


def summary(values: Sequence[float]) -> dict[str, float]:
    """Return median, quartiles, extremes, mean and the share of values above 1 (for gains)."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise ValueError("summary of no values")
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(v.min()), "max": float(v.max()),
            "mean": float(v.mean()),
            "share_above_1": float((v > 1).mean()), "n": int(v.size)}


def relative_curve(history: np.ndarray, every: int) -> list[tuple[int, float]]:
    """Return [(step, mean objective over the `every` steps ending there / the same mean at the last step)].

    history: (steps,) objective per step (step s is history[s-1]); dividing by the end value makes runs of
    different layers, whose objectives differ by orders of magnitude, averageable.
    """
    h = np.asarray(history, np.float64)
    end = h[len(h) - len(h) % every - every:len(h) - len(h) % every].mean()
    if not np.isfinite(end) or end == 0:
        raise ValueError("objective history ends at zero or non-finite; cannot normalize")
    return [(s, float(h[s - every:s].mean() / end)) for s in range(every, len(h) + 1, every)]


def relative_gains(gains: np.ndarray) -> np.ndarray:
    """Return gains[a, b, …] / gains[b, b, …]: the gain model a's caricature reaches in model b, in units of
    the gain of model b's own caricature (the diagonal becomes 1)."""
    g = np.asarray(gains, np.float64)
    if g.ndim < 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"gains must be (models, models, ...), got shape {g.shape}")
    own = np.stack([g[b, b] for b in range(g.shape[1])])      # (B, …)
    return g / own[None]
