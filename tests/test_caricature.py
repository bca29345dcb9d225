"""The figure-facing API on a tiny model (shapes, metrics, provenance, determinism), and one slow run on
the real EfficientNet-Lite0 showing the objective rises and the caricature gets more extreme (gain > 1)."""
import numpy as np
import pytest
import torch

from caricatures.attribution import logit
from caricatures.make import make_caricatures, visualize_channel
from caricatures.objectives import objective
from tests.engine_models import tiny_model


def photos(n=2):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_make_caricatures_shapes_metrics_and_settings():
    r = make_caricatures(tiny_model(), photos(2), ["down", "res"], steps=5, snapshots=(0, 5), device="cpu")
    assert r.images.shape == (2, 2, 32, 32, 3) and r.images.dtype == np.float32
    assert 0 <= r.images.min() and r.images.max() <= 1
    assert r.originals.shape == (2, 32, 32, 3) and r.history.shape == (5, 2, 2)
    assert sorted(r.snapshots) == [0, 5] and r.snapshots[5].shape == r.images.shape
    assert set(r.metrics[1][0]) == {"cosine", "gain", "objective"}
    assert r.settings["steps"] == 5 and r.settings["layers"] == ["down", "res"]
    assert r.settings["transforms"]["preset"] == "standard" and r.settings["precision"] in ("fp32", "bf16")
    assert r.settings["threads"] == torch.get_num_threads()
    assert r.settings["streams"] == min(torch.get_num_threads(), 4)  # 4 independent rows, one group per thread
    assert r.attributions is None


def test_same_seed_same_pixels_and_metrics():
    a = make_caricatures(tiny_model(), photos(1), ["res"], steps=4, seed=2, device="cpu", precision="fp32")
    b = make_caricatures(tiny_model(), photos(1), ["res"], steps=4, seed=2, device="cpu", precision="fp32")
    np.testing.assert_array_equal(a.images, b.images)
    assert a.metrics == b.metrics


def test_a_custom_objective_factory_is_used_and_named():
    calls = []

    def plain_dot(layer, row, original, cossim_pow):
        """⟨A_row, A_original⟩ whatever cossim_pow: what dot_compare computes at cossim_pow=0."""
        calls.append((layer, row, original, cossim_pow))

        def fn(acts):
            return (acts[layer][row].float() * acts[layer][original].float().detach()).sum()
        return objective(fn, f"plain_dot({layer}, {row})", layer, (row, original))

    kw = {"steps": 4, "seed": 1, "device": "cpu", "precision": "fp32"}
    mine = make_caricatures(tiny_model(), photos(2), ["down", "res"], cossim_pow=1, objective=plain_dot, **kw)
    # Rows of the batch [photo 0, photo 1, (photo 0, down), (photo 0, res), (photo 1, down), (photo 1, res)].
    assert calls == [("down", 2, 0, 1), ("res", 3, 0, 1), ("down", 4, 1, 1), ("res", 5, 1, 1)]
    assert mine.settings["objective"] == "plain_dot" and mine.settings["cossim_pow"] == 1
    lucid = make_caricatures(tiny_model(), photos(2), ["down", "res"], cossim_pow=1, **kw)
    assert lucid.settings["objective"] == "dot_compare"
    assert not np.array_equal(mine.images, lucid.images)
    plain = make_caricatures(tiny_model(), photos(2), ["down", "res"], cossim_pow=0, **kw)
    np.testing.assert_array_equal(mine.images, plain.images)
    with pytest.raises(ValueError, match="exclude each other"):
        make_caricatures(tiny_model(), photos(1), ["res"], objective=plain_dot, attribution=logit(1), **kw)


def test_attribution_caricatures_and_maps():
    r = make_caricatures(tiny_model(), photos(1), ["stem", "res"], steps=3, attribution=logit(1), device="cpu")
    assert r.settings["objective"] == "attribution_dot" and r.settings["attribution"] == "logit 1"
    assert r.attributions["res"].shape == (1, 8, 8) and r.attributions["stem"].shape == (1, 16, 16)
    assert r.attributions["res"].max() == pytest.approx(1.0)
    it = make_caricatures(tiny_model(), photos(1), ["stem", "down", "res"], steps=2, iterate=True, device="cpu")
    assert it.settings["iterate"] and set(it.attributions) == {"stem", "down", "res"}


def test_visualize_channel_switches():
    v = visualize_channel(tiny_model(), "res", 3, steps=4, batch=2, transforms=None, lr=0.5, device="cpu",
                          preprocess=lambda x: x, param="pixel", decorrelate=False)
    assert v.images.shape == (2, 32, 32, 3) and len(v.objective) == 2 and v.history.shape == (4, 2)
    assert v.settings["transforms"] is None and v.settings["lr"] == 0.5 and v.settings["param"] == "pixel"
    with pytest.raises(ValueError, match="out of range"):
        visualize_channel(tiny_model(), "res", 12, steps=1)


def test_bad_arguments():
    with pytest.raises(KeyError, match="unknown layer 'nope'"):
        make_caricatures(tiny_model(), photos(1), ["nope"], steps=1)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        make_caricatures(tiny_model(), photos(1), ["res"], steps=0)
    with pytest.raises(ValueError, match="photos must be"):
        make_caricatures(tiny_model(), torch.rand(32, 32), ["res"], steps=1)


@pytest.mark.slow
def test_lite0_caricature_objective_rises_and_gain_exceeds_one():
    from caricatures.images import load_photo
    from caricatures.models import load_model
    photo = load_photo("images/animals/panda.jpg", 112)
    r = make_caricatures(load_model("efficientnet_lite0"), photo, ["block7"], steps=160, size=112, seed=1)
    first, last = r.history[:8, 0, 0].mean(), r.history[-8:, 0, 0].mean()
    assert last > 2 * first
    assert r.metrics[0][0]["gain"] > 1.0 and r.metrics[0][0]["cosine"] > 0.5
