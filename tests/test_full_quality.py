"""Every figure of the full article optimizes with lucid's recipe: 512 steps at 224 px (the input size of
Lite0 and MobileNetV2; Lite1 and Lite2 at the same size, so that every network can look at the others'
caricatures), lucid's schedule. Only what a figure is about may differ (the debugging figure's broken setups)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from caricatures.models import input_size
from sitegen.config import BuildConfig
from sitegen.figures import discover
from tests.conftest import ROOT

STEPS, SIZE = 512, 224


def full_runs():
    config = BuildConfig(article=ROOT / "article", figures=ROOT / "figures", quick=False)
    for script in discover(replace(config, jobs=0)).values():
        for run in script.runs():
            if run.kind in ("caricature", "channel"):
                yield script.id, run


@pytest.mark.slow  # the attribution figures' runs() classify their photos to choose the targets
def test_every_optimization_follows_lucids_recipe():
    seen = set()
    for fig, run in full_runs():
        o = run.options
        size = o.get("size") or input_size(run.model.name)
        assert o.get("recipe", "lucid") == "lucid", (fig, o)
        seen.add(fig)
        assert run.steps == STEPS and size == SIZE, (fig, str(run))
    assert {"in_context", "scale", "models", "relatives", "attribution_classes", "debugging", "travel",
            "iterated", "training_data", "convergence"} <= seen
