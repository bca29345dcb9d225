"""The try_it figure's Python side: the weights export (parts, layouts, float16, cache) and the build step."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from caricatures.images import load_photo
from caricatures.models import load_model
from sitegen import web_export
from sitegen.contract import FigureConfig
from sitegen.exports import export_payloads
from sitegen.pipeline import Site
from tests.conftest import ROOT, site_config

LITE0 = "efficientnet_lite0"


@pytest.fixture(scope="module")
def lite0():
    return load_model(LITE0)


@pytest.fixture(scope="module")
def payloads(lite0):
    return [web_export.read_script(t) for t in web_export.model_scripts(lite0).values()]


def test_parts_end_at_the_stage_ends_and_hold_every_stage_once(lite0, payloads):
    names = [s["name"] for p in payloads for s in p["stages"]]
    assert names == ["stem"] + [f"block{i}" for i in range(16)]
    assert [p["stages"][-1]["name"] for p in payloads] == lite0.meta["stage_ends"]
    assert [p["part"] for p in payloads] == list(range(7)) and {p["parts"] for p in payloads} == {7}
    assert payloads[0]["preprocess"] == [255 / 128, -127 / 128]
    block5, block6 = payloads[3]["stages"][:2]                 # stage 4: 40 → 80 channels, stride 2 first
    assert [(c["depthwise"], c["stride"], c["relu6"]) for c in block5["convs"]] == [
        (False, 1, True), (True, 2, True), (False, 1, False)] and not block5["residual"]
    assert [c["stride"] for c in block6["convs"]] == [1, 1, 1] and block6["residual"]


def test_tensors_are_the_folded_weights_in_tensorflow_layouts_rounded_to_half(lite0, payloads):
    folded = web_export.rounded(lite0)
    stages = {lay.name: folded.stages[lay.stage] for lay in folded.layers.values() if lay.module is None}
    for p in payloads:
        arrays = web_export.decode(p)
        for s in p["stages"]:
            convs = [m for m in stages[s["name"]].modules() if isinstance(m, torch.nn.Conv2d)]
            assert len(convs) == len(s["convs"])
            for conv, c in zip(convs, s["convs"]):
                w = conv.weight.detach()
                want = w.permute(2, 3, 0, 1) if c["depthwise"] else w.permute(2, 3, 1, 0)
                np.testing.assert_array_equal(arrays[c["w"]], want.numpy())
                np.testing.assert_array_equal(arrays[c["b"]], conv.bias.detach().numpy())
                assert np.array_equal(arrays[c["w"]], arrays[c["w"]].astype(np.float16).astype(np.float32))


def test_half_precision_moves_stage_end_activations_by_under_one_percent(lite0):
    x = load_photo(ROOT / "images/animals/panda.jpg", 96)[None]
    ends = lite0.meta["stage_ends"]
    with torch.no_grad():
        exact, half = lite0.activations(x, ends), web_export.rounded(lite0).activations(x, ends)
    errors = [float((half[n] - exact[n]).norm() / exact[n].norm()) for n in ends]
    assert 1e-4 < max(errors) < 1e-2, errors


def test_export_is_cached_by_weights_and_exporter_and_written_whole(tmp_path, monkeypatch):
    folder, made = web_export.cached_export(LITE0, tmp_path)
    assert made and sorted(p.name for p in folder.iterdir()) == ["MANIFEST.json"] + [f"part-{k}.js" for k in range(7)]
    assert web_export.cached_export(LITE0, tmp_path) == (folder, False)
    (folder / "part-2.js").write_text("damaged")                    # a damaged file is exported again
    assert web_export.cached_export(LITE0, tmp_path) == (folder, True)
    assert web_export.read_script((folder / "part-2.js").read_text())["part"] == 2
    monkeypatch.setattr(web_export, "export_key", lambda name: "f" * 64)   # new weights or exporter
    newer, made = web_export.cached_export(LITE0, tmp_path)
    assert made and newer != folder and not folder.exists()

    def broken(model):
        raise KeyboardInterrupt
    monkeypatch.setattr(web_export, "export_key", lambda name: "e" * 64)
    monkeypatch.setattr(web_export, "model_scripts", broken)
    with pytest.raises(KeyboardInterrupt):
        web_export.cached_export(LITE0, tmp_path)
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [newer.name]   # no half-written folder


def test_export_key_follows_the_exporter_source(monkeypatch, tmp_path):
    key = web_export.export_key(LITE0)
    source = tmp_path / "web_export.py"
    source.write_text(Path(web_export.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(web_export, "__file__", str(source))
    assert web_export.export_key(LITE0) != key


def _figure():
    from figures import try_it
    return try_it


def test_figure_offers_lite0_stage_ends_and_runs_nothing(tmp_path, lite0):
    fig = _figure()
    assert list(fig.SPEC.layers) == lite0.meta["stage_ends"] and fig.runs(fig.SPEC) == []
    result = fig.make(fig.SPEC, FigureConfig(cache_dir=tmp_path))
    d = result.data
    assert [lay["key"] for lay in d["layers"]] == lite0.meta["stage_ends"]
    assert d["layers"][3]["parts"] == [web_export.part_file(LITE0, k) for k in range(4)]
    assert d["layers"][3]["channels"] == 80 and d["layers"][3]["stride"] == 16
    assert set(d["exports"]["photos"].values()) == set(fig.SPEC.inputs) and d["exports"]["model"] == LITE0
    assert [p["file"] for p in d["photos"]] == [web_export.photo_file("try_it", k) for k in d["exports"]["photos"]]
    assert {t.shape for t in result.tiles["photos"].values()} == {(128, 128, 3)}
    assert d["initial"]["size"] in d["sizes"] and d["initial"]["steps"] in d["steps"]
    assert not list(tmp_path.iterdir())                              # nothing memoized: nothing computed


def test_build_step_writes_what_figures_ask_for_and_nothing_else(tmp_path):
    config = site_config(tmp_path, root=ROOT)
    stage = tmp_path / "stage"
    site = Site(stage=stage, figures={
        "plain": {"data": {"rows": []}},
        "gone": {"missing": True, "data": {"exports": {"model": LITE0}}},
        "try": {"data": {"exports": {"model": LITE0, "photos": {"cat": "images/animals/chelsea_cat.jpg"},
                                     "photo_size": 64}}}})
    export_payloads(site, config)
    assert sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*.js")) == [
        "figures/try/photo-cat.js"] + [web_export.part_file(LITE0, k) for k in range(7)]
    photo = web_export.read_script((stage / "figures/try/photo-cat.js").read_text())
    assert photo["size"] == 64 and photo["url"].startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(photo["url"].split(",", 1)[1]))) as im:
        assert im.size == (64, 64)
    assert not (stage / "models" / LITE0 / "MANIFEST.json").exists()
    cached = json.loads(next((tmp_path / "cache" / "exports").glob(f"{LITE0}-*")).joinpath("MANIFEST.json").read_text())
    assert len(cached) == 7
