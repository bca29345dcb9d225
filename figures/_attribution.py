"""Helpers for the article's part 2 figures: a heat-map colormap, map overlays, overlap and image measures.

    heat_overlay(photo_uint8, attribution_map)   # the photo dimmed, the map's hot places coloured over it
    top_iou(map_a, map_b, 0.2), spearman(map_a, map_b)   # how much two attribution maps agree
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from caricatures.attribution import Target, logit, logit_diff
from caricatures.models.base import Model

# An inferno-like ramp (dark violet → red → orange → pale yellow), monotone in lightness, so a map reads in grey.
HEAT_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)), (0.75, (249, 142, 9)), (1.0, (252, 255, 164)))


def colormap(values: np.ndarray, stops=HEAT_STOPS) -> np.ndarray:
    """Map values in [0, 1] (clipped; NaN → 0) to uint8 RGB (…, 3) by linear interpolation between `stops`."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    xs = np.array([s[0] for s in stops])
    rgb = np.array([s[1] for s in stops], dtype=np.float64)
    out = np.stack([np.interp(v, xs, rgb[:, c]) for c in range(3)], axis=-1)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def upsample(amap: np.ndarray, size: int) -> np.ndarray:
    """Resize a (h, w) map to (size, size) bilinearly (PIL, float32)."""
    img = Image.fromarray(np.asarray(amap, dtype=np.float32), mode="F")
    return np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.float32)


def heat_overlay(photo: np.ndarray, amap: np.ndarray, alpha: tuple[float, float] = (0.25, 0.9)) -> np.ndarray:
    """Return the photo (S, S, 3) uint8 greyed and dimmed, with `amap` (h, w, values in [0, 1]) coloured over it.

    Opacity runs from alpha[0] where the map is 0 to alpha[1] where it is 1, so the photo stays legible where
    the attribution is small; the view shows this tile over the photo at full opacity.
    """
    size = photo.shape[0]
    v = np.clip(upsample(amap, size), 0.0, 1.0)[..., None]
    grey = photo.astype(np.float32).mean(-1, keepdims=True) * 0.6
    a = alpha[0] + (alpha[1] - alpha[0]) * v
    out = grey * (1 - a) + colormap(v[..., 0]).astype(np.float32) * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def top_mask(amap: np.ndarray, frac: float) -> np.ndarray:
    """Return a boolean mask of the ceil(frac·n) largest entries (ties broken by position, first wins)."""
    flat = np.asarray(amap, dtype=np.float64).ravel()
    k = max(1, int(np.ceil(frac * flat.size)))
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(-flat, kind="stable")[:k]] = True
    return mask.reshape(np.shape(amap))


def top_iou(a: np.ndarray, b: np.ndarray, frac: float = 0.2) -> float:
    """Return the intersection over union of the top-`frac` positions of two equally shaped maps."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"maps differ in shape: {np.shape(a)} vs {np.shape(b)}")
    ma, mb = top_mask(a, frac), top_mask(b, frac)
    return float((ma & mb).sum() / (ma | mb).sum())


def ranks(x: np.ndarray) -> np.ndarray:
    """Return 1-based ranks of a flattened array, tied values sharing their average rank."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(flat, kind="stable")
    r = np.empty(flat.size)
    r[order] = np.arange(1, flat.size + 1)
    _, inverse = np.unique(flat, return_inverse=True)
    return (np.bincount(inverse, weights=r) / np.bincount(inverse))[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Return Spearman's rank correlation of two equally shaped maps (NaN when one is constant)."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"maps differ in shape: {np.shape(a)} vs {np.shape(b)}")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def high_frequency(image: np.ndarray, cutoff: float = 0.25) -> float:
    """Return the share of a grey image's power (mean removed) above `cutoff` cycles per pixel."""
    g = np.asarray(image, np.float64).mean(-1)
    power = np.abs(np.fft.fft2(g - g.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(g.shape[0]), np.fft.fftfreq(g.shape[1]), indexing="ij")
    total = power.sum()
    return float(power[np.hypot(fx, fy) > cutoff].sum() / total) if total > 0 else 0.0


def class_target(key: str) -> Target:
    """Return the Target named by a key: "483" (logit 483) or "483-525" (logit 483 − logit 525)."""
    parts = key.split("-")
    if not all(p.isdigit() for p in parts) or len(parts) not in (1, 2):
        raise ValueError(f"class target key {key!r}: use 'A' or 'A-B' with ImageNet class indices")
    return logit(int(parts[0])) if len(parts) == 1 else logit_diff(int(parts[0]), int(parts[1]))


def probabilities(model: Model, images: np.ndarray) -> np.ndarray:
    """Return the model's class probabilities (N, 1000) for images (N, S, S, 3), uint8 or float in [0, 1]."""
    x = torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float()
    x = x / 255.0 if np.asarray(images).dtype == np.uint8 else x
    with torch.no_grad():
        return model.activations(x, ["logits"])["logits"].float().softmax(-1).numpy()
