"""Tests for figures/_measures.py against hand-computed values (no real model)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from caricatures.models.base import Layer, Model
from figures import _measures as M


def identity_model() -> Model:
    """A Model whose only layer is the image itself (C=3, stride 1): activations are the pixels."""
    layers = {"pixels": Layer("pixels", "pixels", 0, "block", 3, 1)}
    return Model("identity", 4, nn.ModuleList([nn.Identity()]), layers, lambda x: x)


def test_image_metrics_hand_computed():
    photo = np.full((4, 4, 3), 0.5, np.float32)
    same_but_twice = np.ones((4, 4, 3), np.float32)           # cos 1, gain (1·0.5)/(0.5²) = 2
    half = np.zeros((4, 4, 3), np.float32)
    half[:2] = 1.0                                            # cos 1/√2, gain (n/2·0.5)/(n·0.25) = 1
    got = M.image_metrics(identity_model(), photo, np.stack([same_but_twice, half]), ["pixels", "pixels"])
    assert got[0]["cosine"] == pytest.approx(1.0) and got[0]["gain"] == pytest.approx(2.0)
    assert got[1]["cosine"] == pytest.approx(1 / math.sqrt(2)) and got[1]["gain"] == pytest.approx(1.0)


def test_image_metrics_reads_uint8_as_0_to_1():
    photo = np.full((4, 4, 3), 51, np.uint8)                  # 0.2
    image = np.full((1, 4, 4, 3), 255, np.uint8)              # 1.0: gain 1·0.2/0.04 = 5
    assert M.image_metrics(identity_model(), photo, image, ["pixels"])[0]["gain"] == pytest.approx(5.0)


def test_image_metrics_wants_one_layer_per_image():
    with pytest.raises(ValueError, match="one layer per image"):
        M.image_metrics(identity_model(), np.zeros((4, 4, 3)), np.zeros((2, 4, 4, 3)), ["pixels"])


def test_pixel_correlation():
    x = np.arange(12, dtype=np.float64).reshape(2, 2, 3)
    assert M.pixel_correlation(x, 2 * x + 3) == pytest.approx(1.0)
    assert M.pixel_correlation(x, -x) == pytest.approx(-1.0)
    assert M.pixel_correlation(x, np.ones_like(x)) == 0.0
    y = np.array([1.0, 2.0, 3.0, 4.0])                        # against [1, 3, 2, 4]: cov 4/…, r = 0.8
    assert M.pixel_correlation(y, np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="shape"):
        M.pixel_correlation(x, x[0])


def test_summary_quartiles_and_share():
    s = M.summary([3.0, 0.5, 2.0, 1.0])
    assert s["median"] == 1.5 and s["q1"] == pytest.approx(0.875) and s["q3"] == pytest.approx(2.25)
    assert s["share_above_1"] == 0.5 and s["mean"] == pytest.approx(1.625) and s["n"] == 4
    assert (s["min"], s["max"]) == (0.5, 3.0)
    with pytest.raises(ValueError):
        M.summary([])


def test_relative_curve_windows_and_normalizes():
    got = M.relative_curve(np.arange(1.0, 9.0), every=2)        # window means 1.5, 3.5, 5.5, 7.5
    assert [s for s, _ in got] == [2, 4, 6, 8]
    assert [v for _, v in got] == pytest.approx([0.2, 3.5 / 7.5, 5.5 / 7.5, 1.0])
    with pytest.raises(ValueError):
        M.relative_curve(np.zeros(8), every=2)


def test_relative_gains_divides_by_the_evaluating_models_own():
    gains = np.array([[2.0, 1.0], [4.0, 8.0]])                # [caricature model, evaluating model]
    assert M.relative_gains(gains) == pytest.approx(np.array([[1.0, 0.125], [2.0, 1.0]]))
    per_photo = np.stack([gains, 2 * gains], axis=-1)         # trailing axes ride along
    assert M.relative_gains(per_photo)[..., 1] == pytest.approx(M.relative_gains(gains))
    with pytest.raises(ValueError):
        M.relative_gains(np.ones((2, 3)))


def test_re_evaluation_reads_images_rows_first():
    """to_tensor keeps (row, column): an image that is not symmetric under H↔W comes out as pixel [y, x]
    at [:, y, x] (a transposed read passes any test on a symmetric or identity case)."""
    from figures._measures import to_tensor
    img = np.zeros((1, 4, 6, 3), np.uint8)
    img[0, 1, 4] = (255, 0, 51)           # row 1, column 4
    t = to_tensor(img)
    assert t.shape == (1, 3, 4, 6)
    assert t[0, :, 1, 4].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert float(t.sum()) == pytest.approx(1.2)


@pytest.mark.slow
def test_re_evaluated_metrics_equal_the_engines_own():
    """A caricature of a real model re-measured by the figures' image_metrics gives the engine's cosine and
    gain (from its float images, so only the engine's and this path's rounding differ)."""
    from caricatures.images import load_photo
    from caricatures.make import make_caricatures
    from caricatures.models import load_model
    from figures._measures import image_metrics
    model = load_model("efficientnet_lite0")
    photo = load_photo("images/animals/panda.jpg", 64)[:, :, 8:56]     # not square: 64 rows, 48 columns
    photo = torch.nn.functional.pad(photo, (8, 8), value=0.5)
    result = make_caricatures(model, photo, ["block2", "block5"], steps=4, size=64, precision="fp32")
    got = image_metrics(model, result.originals[0], result.images[0], ["block2", "block5"])
    for g, want in zip(got, result.metrics[0]):
        assert g["cosine"] == pytest.approx(want["cosine"], abs=1e-5)
        assert g["gain"] == pytest.approx(want["gain"], rel=1e-5)
