"""How a caricature relates to its photo at its layer, on the un-transformed images at model size; and linear
CKA, how alike two representations of the same examples are (the training-data experiment).

cosine = cos(A_car, A_orig) over the whole H×W×C activation; gain = ⟨A_car, A_orig⟩ / ‖A_orig‖², the length
of the caricature's activation projected on the original's, in units of the original's (> 1: more extreme).
"""
from __future__ import annotations

import numpy as np
import torch

from caricatures.forward import Runner
from caricatures.models.base import Model
from caricatures.objectives import Objective, Rows


def compare(car: torch.Tensor | np.ndarray, orig: torch.Tensor | np.ndarray) -> dict[str, float]:
    """Return cosine and gain of a caricature's activation against the original's (any equal shapes)."""
    a = np.asarray(car.detach().cpu() if isinstance(car, torch.Tensor) else car, dtype=np.float64).ravel()
    b = np.asarray(orig.detach().cpu() if isinstance(orig, torch.Tensor) else orig, dtype=np.float64).ravel()
    dot, na, nb = float(a @ b), float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return {"cosine": dot / (na * nb) if na > 0 and nb > 0 else 0.0, "gain": dot / nb**2 if nb > 0 else 0.0}


@torch.no_grad()
def evaluate(model: Model, objective: Objective, images: torch.Tensor,
             originals: torch.Tensor | None = None) -> tuple[list[float], dict[str, Rows]]:
    """Evaluate each term of `objective` on un-transformed images in float32; return values and activations.

    The logical batch is `[originals…, images…]`, as in `optimize`.
    """
    device = next(model.stages.parameters()).device
    layers = objective.layers
    runner = Runner(model, layers)
    acts = {name: Rows(name) for name in layers}
    parts = [(0, images)] if originals is None else [(0, originals), (originals.shape[0], images)]
    try:
        for offset, part in parts:
            out = runner(part.to(device, torch.float32), layers)
            for name, t in out.items():
                acts[name].add(t.float(), {offset + i: i for i in range(t.shape[0])})
    finally:
        runner.close()
    return [float(v) for v in objective.values(acts)], acts


def linear_cka(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Return the linear CKA of two representations of the same n examples, x (n, p) and y (n, q) (any trailing
    shape is flattened): ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) of the column-centred matrices, computed from the n × n
    Gram matrices (‖YᵀX‖²_F = ⟨XXᵀ, YYᵀ⟩), so wide activations cost n² p. 1 for representations equal up to
    a rotation and an overall scale."""
    a, b = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, np.float64) for v in (x, y))
    if a.shape[0] != b.shape[0] or a.shape[0] < 2:
        raise ValueError(f"CKA needs the same n ≥ 2 examples on both sides, got {a.shape[0]} and {b.shape[0]}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    ka, kb = (m - m.mean(0) for m in (a, b))
    ga, gb = ka @ ka.T, kb @ kb.T
    den = np.linalg.norm(ga) * np.linalg.norm(gb)
    return float((ga * gb).sum() / den) if den > 0 else 0.0


def cosine_matrix(a: np.ndarray, b: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """Return the (N, M) cosines between the rows of a (N, …) and b (M, …), each row flattened; with
    `centre` (one row's shape, e.g. the mean activation over a set of photos), both are centred on it first,
    so what every image shares no longer counts as similarity."""
    x = np.asarray(a, np.float64).reshape(len(a), -1)
    y = np.asarray(b, np.float64).reshape(len(b), -1)
    if centre is not None:
        c = np.asarray(centre, np.float64).reshape(1, -1)
        x, y = x - c, y - c
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-30)
    return x @ y.T


def own_ranks(similarity: np.ndarray) -> np.ndarray:
    """Return, for each row i of a square similarity matrix (row: an image made from photo i; column: photo j),
    the rank of its own photo i among all columns: 1 when no other photo is as similar (ties count against)."""
    s = np.asarray(similarity)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"own_ranks needs a square matrix, got shape {s.shape}")
    own = np.diag(s)
    return 1 + (s >= own[:, None]).sum(1) - 1   # every column as similar as the own photo, the own one excepted


def bootstrap_interval(values, statistic=np.mean, *, n: int = 2000, seed: int = 0, level: float = 0.95
                       ) -> tuple[float, float]:
    """Return the percentile bootstrap interval of `statistic` over `values` (resampled with replacement,
    seeded): the spread of a mean over photos that a different draw of photos would give."""
    v = np.asarray(values, np.float64)
    if v.size < 2:
        raise ValueError("a bootstrap interval needs at least two values")
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(v[rng.integers(0, v.size, v.size)]) for _ in range(n)])
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
