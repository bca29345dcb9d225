"""Metrics vs numpy: cosine and gain of a caricature's activation against the original's."""
import numpy as np
import pytest
import torch

from caricatures.metrics import compare, evaluate
from caricatures.objectives import dot_compare
from tests.engine_models import tiny_model


def test_compare_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5, 6)), rng.normal(size=(4, 5, 6))
    m = compare(torch.tensor(a), b)
    assert m["cosine"] == pytest.approx((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))
    assert m["gain"] == pytest.approx((a * b).sum() / (b * b).sum())


def test_scaled_original_has_that_gain_and_cosine_one():
    b = np.random.default_rng(1).random((3, 4, 4))
    m = compare(2.5 * b, b)
    assert m["cosine"] == pytest.approx(1.0) and m["gain"] == pytest.approx(2.5)
    assert compare(np.zeros(3), b.ravel()[:3]) == {"cosine": 0.0, "gain": 0.0}


def test_evaluate_uses_untransformed_images():
    model = tiny_model()
    orig, imgs = torch.rand(1, 3, 32, 32), torch.rand(2, 3, 32, 32)
    obj = dot_compare("down", 1, 0) + dot_compare("res", 2, 0)
    values, acts = evaluate(model, obj, imgs, orig)
    a = model.activations(torch.cat([orig, imgs]), ["down", "res"])
    assert values[0] == pytest.approx(float((a["down"][1] * a["down"][0]).sum()), rel=1e-4)
    assert values[1] == pytest.approx(float((a["res"][2] * a["res"][0]).sum()), rel=1e-4)
    torch.testing.assert_close(acts["res"][2], a["res"][2])
