"""A caricature's settings are validated once, in `Settings`: each bad value is refused there with a message
naming the field, `make_caricatures` and a caricature run raise that same message, and a run's settings
read back from its options are the settings it was made with."""
import numpy as np
import pytest
import torch

from caricatures.attribution import logit
from caricatures.make import make_caricatures
from caricatures.objectives import attribution_accent, dot_compare
from caricatures.settings import Settings
from sitegen.runs import ModelRef, caricature, caricature_settings
from tests.engine_models import tiny_model

BAD = [  # (fields, error type, what the message says)
    ({"steps": 0}, ValueError, "steps must be a positive int, got 0"),
    ({"steps": 2.5}, ValueError, "steps must be a positive int, got 2.5"),
    ({"param": "svg"}, ValueError, "param must be one of fft, pixel, maco, got 'svg'"),
    ({"transforms": "wobbly"}, ValueError, "transforms must be one of standard, notebook, none or a TransformSpec"),
    ({"init": "zeros"}, ValueError, "init must be 'noise' or 'photo', got 'zeros'"),
    ({"init": "photo", "param": "maco"}, ValueError, "init 'photo' needs param 'fft' or 'pixel', got 'maco'"),
    ({"recipe": "fast"}, ValueError, "unknown recipe 'fast'; choose one of lucid"),
    ({"recipe": "coarse", "param": "pixel"}, ValueError, ("recipe 'coarse' starts at a coarse size: it needs "
                                                         "param='fft', init='noise' and no snapshots")),
    ({"recipe": "coarse", "snapshots": (4,)}, ValueError, "recipe 'coarse' starts at a coarse size"),
    ({"recipe": "coarse", "init": "photo"}, ValueError, "recipe 'coarse' starts at a coarse size"),
    ({"objective": "nope"}, ValueError, "unknown caricature objective 'nope'; valid: dot_compare"),
    ({"objective": "dot_power", "cossim_pow": 2.0}, ValueError, "objective dot_power takes no cossim_pow"),
    ({"objective": "orthogonal_penalty", "objective_args": {"wieght": 1.0}}, ValueError,
     "caricature objective 'orthogonal_penalty': bad arguments {'wieght': 1.0}"),
    ({"objective_args": {"weight": 1.0}}, ValueError, "objective_args given without an objective"),
    ({"objective": "orthogonal_penalty", "objective_args": [("weight", 1.0)]}, TypeError,
     "objective_args must be a dict"),
    ({"objective": "dot_cossim", "attribution": logit(1)}, ValueError,
     "objective=dot_cossim and attribution or iterate exclude each other"),
    ({"iterate": True, "objective_args": {"weight": 1.0}}, ValueError,
     "objective_args {'weight': 1.0}: attribution caricature objectives take none"),
    ({"iterate": True, "attribution_objective": "dot_compare_scaled"}, ValueError,
     ("attribution_objective 'dot_compare_scaled' is not an attribution caricature objective; "
     "valid: attribution_dot, attribution_accent")),
    ({"attribution_objective": "attribution_accent"}, ValueError,
     "attribution_objective=attribution_accent needs attribution or iterate"),
]


@pytest.mark.parametrize(("fields", "error", "message"), BAD, ids=[str(b[0]) for b in BAD])
def test_each_bad_setting_is_refused_with_a_message_naming_it(fields, error, message):
    with pytest.raises(error) as got:
        Settings(**fields)
    assert message in str(got.value)
    with pytest.raises(error) as again:   # the call takes its keyword arguments through the same check
        make_caricatures(tiny_model(), torch.rand(1, 3, 32, 32), ["res"], device="cpu", **fields)
    assert str(again.value) == str(got.value)


# The bad settings a run can name (a run names an attribution target as text, and the objective of an
# attributing run is its attribution objective).
RUN_BAD = [(f, m) for f, e, m in BAD if e is ValueError and "attribution" not in f and not f.get("iterate")
           and "attribution_objective" not in f] + [
    ({"iterate": True, "objective": "dot_compare_scaled"}, "'dot_compare_scaled' is not an attribution caricature"),
    ({"attribution": "logit:1", "objective": "orthogonal_penalty", "objective_args": {"weight": 1.0}},
     "attribution caricature objectives take none"),
]


@pytest.mark.parametrize(("fields", "message"), RUN_BAD, ids=[str(b[0]) for b in RUN_BAD])
def test_a_bad_run_fails_when_made_with_the_message_of_a_bad_call(fields, message):
    fields = {"steps": 3, **fields}
    with pytest.raises(ValueError) as got:
        caricature(ModelRef("efficientnet_lite0"), ["images/animals/cat.jpg"], ["block1"], **fields)
    assert message in str(got.value)
    with pytest.raises(ValueError) as direct:
        caricature_settings(fields.pop("steps"), fields)
    assert str(direct.value) == str(got.value)


def test_defaults_names_and_factories():
    s = Settings()
    assert (s.steps, s.lr, s.param, s.transforms, s.recipe, s.init) == (512, 0.05, "fft", "standard", "lucid", "noise")
    assert s.objective_factory is dot_compare and s.objective_name == "dot_compare" and not s.attributes
    named = Settings(objective="orthogonal_penalty", objective_args={"weight": 2.0})
    assert named.objective_name == "orthogonal_penalty"
    attr = Settings(attribution=logit(1), attribution_objective="attribution_accent")
    assert attr.attributes and attr.attribution_factory is attribution_accent
    assert attr.objective_name == "attribution_accent"
    assert Settings(objective="dot_compare", attribution=logit(1)).objective_name == "attribution_dot"


def test_a_run_reads_back_the_settings_it_was_made_with():
    lite0, cat = ModelRef("efficientnet_lite0"), "images/animals/cat.jpg"
    given = {"size": 64, "lr": 0.1, "objective": "orthogonal_penalty", "objective_args": {"weight": 2.0},
             "snapshots": [0, 2], "transforms": None}
    run = caricature(lite0, [cat], ["block1"], steps=3, **given)
    assert caricature_settings(run.steps, run.options) == Settings(3, **{**given, "snapshots": (0, 2)})
    attr = caricature(lite0, [cat], ["block1"], steps=3, attribution="logit:1", objective="attribution_accent")
    read = caricature_settings(attr.steps, attr.options)
    assert read.attribution.name == "logit 1" and read.attribution_objective == "attribution_accent"


def test_make_caricatures_takes_settings_or_their_fields_not_both():
    photo, kw = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), {"device": "cpu",
                                                                                      "precision": "fp32"}
    by_fields = make_caricatures(tiny_model(), photo, ["res"], steps=2, seed=3, **kw)
    by_settings = make_caricatures(tiny_model(), photo, ["res"], Settings(steps=2, seed=3), **kw)
    np.testing.assert_array_equal(by_fields.images, by_settings.images)
    with pytest.raises(TypeError, match=r"give a Settings or its fields \(seed\), not both"):
        make_caricatures(tiny_model(), photo, ["res"], Settings(steps=2), seed=3, **kw)


def test_a_caricature_runs_settings_are_the_settings_fields():
    import dataclasses

    from caricatures.settings import Settings
    from sitegen.runs.run import KINDS
    assert KINDS["caricature"] == {f.name for f in dataclasses.fields(Settings)} - {"steps", "attribution_objective"}
