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
