"""Tests for part 1's figure plans: the randomization cascade, the models figure's transfer groups, batches."""
from __future__ import annotations

import numpy as np
import pytest

from figures.randomization import cascade

STAGES = ["stem", "block0", "block1", "block2", "head", "logits"]


def test_cascade_reinitializes_everything_above_then_one_more_stage_each_step():
    assert cascade("block1", STAGES, "all") == [
        ("trained", ()),
        ("above", ("logits", "head", "block2")),
        ("block1", ("logits", "head", "block2", "block1")),
        ("block0", ("logits", "head", "block2", "block1", "block0")),
        ("stem", ("logits", "head", "block2", "block1", "block0", "stem")),
    ]


def test_cascade_can_stop_early():
    assert [name for name, _ in cascade("block2", STAGES, 2)] == ["trained", "above", "block2", "block1"]


def test_model_transfer_groups_average_the_right_pairs():
    from figures.models import transfer_summary

    keys = ["lite0", "lite1", "lite2", "mnv2", "random"]
    rel = np.arange(25, dtype=float).reshape(5, 5)          # rel[a, b] = 5a + b
    got = transfer_summary(rel, keys)
    assert got["lite_family"] == pytest.approx(np.mean([1, 2, 5, 7, 10, 11]))
    assert got["lite_mnv2"] == pytest.approx(np.mean([3, 8, 13, 15, 16, 17]))
    assert got["random_in_trained"] == pytest.approx(np.mean([20, 21, 22, 23]))


def test_chunk_of_cuts_fixed_batches_from_the_start():
    from figures._runs import chunk_of

    photos = ["a", "b", "c", "d", "e", "f", "g"]
    assert chunk_of(photos, "a", 3) == ("a", "b", "c")
    assert chunk_of(photos, "e", 3) == ("d", "e", "f")
    assert chunk_of(photos, "g", 3) == ("g",)                 # the last batch may be short
    assert chunk_of(photos, "c", 4) == ("a", "b", "c", "d")


def test_photo_labels_read_as_names():
    from figures._common import all_photos, photo_label
    labels = {p: photo_label(p) for p in all_photos()}
    assert labels["images/places/statueofliberty.jpg"] == "Statue of Liberty"
    assert labels["images/animals/panda.jpg"] == "Panda"
    run_together = [lab for lab in labels.values() if not any(c in lab for c in " -") and len(lab) > 12]
    assert run_together == [], run_together
    # A file name's counter is not part of a name ("hammer1"), proper names keep their capitals, and photos
    # that would share a name are told apart by number.
    assert labels["images/objects/hammer1.jpg"] == "Hammer"
    assert labels["images/objects/measuring_tape1.jpg"] == "Measuring tape"
    assert labels["images/objects/grace_hopper.jpg"] == "Rear Admiral Grace Hopper"
    assert [lab for lab in labels.values() if lab[-1].isdigit() and lab[-2] != " "] == []
    assert len(set(labels.values())) == len(labels)
    fish = [labels[p] for p in all_photos() if "/fish" in p]
    assert fish == [f"Fish {i}" for i in range(1, len(fish) + 1)] and len(fish) > 1     # listed in order


def test_seed_spread_measures_ranges_and_agreement_between_seeds():
    """With fake run results: seeds with the same images agree fully and give the hand-computed metric ranges; a
    seed whose images are the negatives of seed 0's has pixel correlation -1 with them."""
    from figures import _runs
    from sitegen.contract import FigureSpec

    images = np.random.default_rng(0).integers(0, 256, (2, 2, 32, 32, 3), dtype=np.uint8)  # photo, layer
    metrics = {0: (0.5, 1.0), 1: (0.7, 1.5), 2: (0.6, 1.2)}                              # seed → cos, gain
    negate = {"seed": None}

    class FakeConfig:
        def result(self, run):
            seed = run.options["seed"]
            assert run.photos == ("images/animals/cat.jpg", "images/animals/panda.jpg")
            cos, gain = metrics[seed]
            return {"images": 255 - images if seed == negate["seed"] else images,
                    "cosine": np.full((2, 2), cos), "gain": np.full((2, 2), gain)}

    core = {"photos": ["images/animals/cat.jpg", "images/animals/panda.jpg", "images/animals/koala.jpg"],
            "batch": 2, "layers": ["block2", "block7"], "steps": 1, "size": 32, "lr": 0.05}
    spec, config = FigureSpec(id="t", title="t", view="grid", params={"core": core}), FakeConfig()
    out = _runs.seed_spread(config, spec, 2)
    assert out["seeds"] == 3 and out["photos"] == 2
    for layer in core["layers"]:
        assert out[layer]["cosine_range"] == pytest.approx(0.2) and out[layer]["gain_range"] == pytest.approx(0.5)
        assert out[layer]["cross_cosine"] == pytest.approx(1.0, abs=1e-5)
        assert out[layer]["cross_pixel_r"] == pytest.approx(1.0)
    assert out["gain_range_max"] == pytest.approx(0.5)
    negate["seed"] = 1
    out = _runs.seed_spread(config, spec, 1)
    assert out["block7"]["cross_pixel_r"] == pytest.approx(-1.0)
    assert out["block7"]["cross_cosine"] < 0.99


def test_travel_cosines_are_one_for_the_photo_itself_and_lower_for_another():
    from caricatures.files import to_uint8
    from caricatures.images import load_photo
    from figures._common import model_for
    from figures.travel import cosines
    from sitegen import ROOT

    photo, other = (to_uint8(load_photo(ROOT / p, 64).permute(1, 2, 0).numpy())
                    for p in ("images/animals/panda.jpg", "images/objects/coffee.jpg"))
    layers = ["block0", "block7", "block15"]
    model = model_for("efficientnet_lite0")
    assert cosines(model, photo, photo, layers) == pytest.approx([1.0] * 3, abs=1e-6)
    assert all(c < 0.9 for c in cosines(model, other, photo, layers))


def test_the_random_networks_caricatures_use_the_scale_invariant_objective_beside_the_plain_dot():
    """In models and debugging, the random network's shown caricatures name dot_compare_scaled; the trained
    networks' do not (the default dot); each photo also has the random network's plain-dot run, for the text."""
    from figures import debugging, models

    for script in (models, debugging):
        spec = script.SPEC.resolved(True)
        random_runs = [r for r in script.runs(spec) if r.kind == "caricature" and r.model.weights == "random"]
        named = [r.options.get("objective") for r in random_runs]
        assert "dot_compare_scaled" in named and None in named, script.__name__
        trained = [r for r in script.runs(spec) if r.kind == "caricature" and r.model.weights == "imagenet"]
        assert trained and all("objective" not in r.options for r in trained), script.__name__
    spec = models.SPEC.resolved(True)
    assert models._option_runs(spec, spec.inputs[0])["random"][0].options["objective"] == "dot_compare_scaled"


@pytest.mark.parametrize("quick", [False, True])
def test_identification_shares_the_hundred_photo_runs(quick):
    """The identification figure's caricatures are exactly the runs of `scale`; its one run of its own is the
    photo-free baseline (DeepDream's objective, photos never read)."""
    from sitegen.config import BuildConfig
    from sitegen.figures import discover
    from sitegen.runs import Where, run_key
    scripts = discover(BuildConfig(quick=quick))
    keys = {f: {run_key(r, Where()) for r in scripts[f].runs()} for f in ("scale", "identification")}
    own = keys["identification"] - keys["scale"]
    assert keys["scale"] and keys["scale"] < keys["identification"] and len(own) == 1
    (free,) = [r for r in scripts["identification"].runs() if run_key(r, Where()) in own]
    assert free.options["objective"] == "energy" and free.layers == scripts["scale"].spec.layers
