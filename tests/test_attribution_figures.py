"""Part 2's figure helpers (figures/_attribution.py) against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from figures import _attribution as fa


def test_colormap_hits_its_stops_and_interpolates_between_them():
    assert fa.colormap(np.array([0.0, 1.0])).tolist() == [[0, 0, 4], [252, 255, 164]]
    assert fa.colormap(np.array(0.5)).tolist() == list(fa.HEAT_STOPS[2][1])
    # halfway between (0, 0, 4) and (87, 16, 110): (43.5, 8, 57), 43.5 rounds to even
    assert fa.colormap(np.array(0.125)).tolist() == [44, 8, 57]


def test_colormap_clips_and_maps_nan_to_zero():
    out = fa.colormap(np.array([-3.0, 7.0, np.nan]))
    assert out.dtype == np.uint8 and out.tolist() == [[0, 0, 4], [252, 255, 164], [0, 0, 4]]


def test_heat_overlay_blends_dimmed_grey_photo_with_the_colormap():
    photo = np.full((8, 8, 3), 100, np.uint8)                 # grey 100 → dimmed to 60
    cold = fa.heat_overlay(photo, np.zeros((2, 2)))              # opacity 0.25: 60·0.75 + (0, 0, 4)·0.25
    assert cold.shape == (8, 8, 3) and cold[0, 0].tolist() == [45, 45, 46]
    hot = fa.heat_overlay(photo, np.ones((2, 2)))                # opacity 0.9: 60·0.1 + (252, 255, 164)·0.9
    assert hot[3, 5].tolist() == [233, 236, 154]


def test_upsample_keeps_a_constant_map_and_the_orientation():
    assert np.allclose(fa.upsample(np.full((3, 3), 0.4), 12), 0.4)
    left = fa.upsample(np.array([[1.0, 0.0], [1.0, 0.0]]), 8)
    assert left[:, 0].min() > left[:, -1].max()


def test_top_mask_and_iou_by_hand():
    a = np.array([[4.0, 3.0], [2.0, 1.0]])
    assert fa.top_mask(a, 0.5).tolist() == [[True, True], [False, False]]
    assert fa.top_iou(a, a[::-1, ::-1].copy(), 0.5) == 0.0       # top halves are disjoint
    assert fa.top_iou(a, a, 0.25) == 1.0
    # top 2 of 5: {0, 1} vs {0, 2} → 1 shared of 3
    assert fa.top_iou(np.array([5, 4, 3, 2, 1.0]), np.array([5, 1, 4, 2, 3.0]), 0.4) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shape"):
        fa.top_iou(np.zeros((2, 2)), np.zeros(4))


def test_ranks_average_ties():
    assert fa.ranks(np.array([30.0, 10.0, 20.0, 20.0])).tolist() == [4.0, 1.0, 2.5, 2.5]


def test_spearman_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert fa.spearman(x, 10 * x ** 3) == pytest.approx(1.0)     # any increasing function
    assert fa.spearman(x, -x) == pytest.approx(-1.0)
    # ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): Σ d_a d_b = 4.5, Σ d_a² = 4.5, Σ d_b² = 5
    assert fa.spearman(np.array([1.0, 2.0, 2.0, 3.0]), x) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert math.isnan(fa.spearman(np.ones(4), x))


def test_high_frequency_share():
    assert fa.high_frequency(np.full((16, 16, 3), 0.3)) == 0.0
    checker = (np.indices((16, 16)).sum(0) % 2).astype(float)[..., None].repeat(3, -1)   # all power at (½, ½)
    assert fa.high_frequency(checker) == pytest.approx(1.0)
    slow = np.sin(2 * np.pi * np.arange(32) / 32)[None, :, None].repeat(32, 0).repeat(3, -1)   # 1/32 cycles/px
    assert fa.high_frequency(slow) == pytest.approx(0.0, abs=1e-12)


def test_class_targets_are_a_logit_or_a_difference_of_two():
    logits = torch.arange(1000, dtype=torch.float32) ** 0.5
    assert fa.class_target("483").fn(logits).item() == pytest.approx(483 ** 0.5)
    diff = fa.class_target("483-525")
    assert diff.fn(logits).item() == pytest.approx(483 ** 0.5 - 525 ** 0.5)
    assert diff.layer is None and "483" in diff.name and "525" in diff.name
    for bad in ("castle", "1-2-3", "", "4-"):
        with pytest.raises(ValueError, match="class target key"):
            fa.class_target(bad)


def test_remedy_runs_and_table():
    """Every photo's top class gets one run per remedy at the remedy layers with that remedy's settings, and the
    table holds each objective's numbers under its column."""
    from figures import attribution_classes as ac

    spec = ac.SPEC.resolved(True)
    remedy = [r for r in ac.runs(spec) if r.layers == tuple(spec.params["remedy_layers"])]
    assert len(remedy) == len(ac.REMEDIES) * len(spec.inputs)
    assert sorted({(r.options.get("cossim_pow"), r.options.get("objective")) for r in remedy}, key=str) == [
        (1, None), (2, None), (None, "attribution_accent")]
    fixes = {k: {n: {"p": i / 10 + j / 100, "cosine": -i - j} for j, n in enumerate(("block10", "block14"))}
             for i, k in enumerate(("plain", *ac.REMEDIES))}
    table = ac.remedy_table(fixes, ("block10", "block14"), 7)
    assert [r["key"] for r in table["rows"]] == ["plain", "cos1", "cos2", "accent"]
    assert ac.remedy_table({"photo": fixes["plain"]}, ("block10", "block14"), 7)["rows"][0]["label"] == \
        "the photo itself"
    assert [c["label"] for c in table["columns"]] == ["p · block 10", "p · block 14", "cos · block 10",
                                                      "cos · block 14"]
    assert table["rows"][2]["values"] == pytest.approx({"p/block10": 0.2, "p/block14": 0.21, "cos/block10": -2,
                                                       "cos/block14": -3})
    assert "7 photos" in table["label"]
