"""The figure contract: spec resolution, sprite packing round trips and cache keys."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from sitegen.contract import FigureConfig, FigureSpec, cache_key, pack_sprites, run_standalone
from sitegen.contract import tile_uint8 as to_uint8


def _spec(**kw) -> FigureSpec:
    base = {"id": "f", "title": "F", "view": "grid", "inputs": ("images/animals/cat.jpg",), "steps": 100, "seed": 1,
                "params": {"size": 224, "lr": 0.05}, "quick": {"steps": 5, "params": {"size": 64}}}
    return FigureSpec(**{**base, **kw})


def test_resolved_applies_quick_overrides_and_merges_params():
    s = _spec()
    assert s.resolved(False) is s
    q = s.resolved(True)
    assert q.steps == 5 and q.params == {"size": 64, "lr": 0.05} and q.inputs == s.inputs
    assert s.params == {"size": 224, "lr": 0.05}


def test_spec_validation():
    with pytest.raises(ValueError, match="layout"):
        _spec(layout="wide")
    with pytest.raises(ValueError, match="quick"):
        _spec(quick={"stpes": 3})
    with pytest.raises(TypeError, match="inputs"):
        _spec(inputs="images/animals/cat.jpg")
    assert _spec(inputs=["images/animals/cat.jpg"]).inputs == ("images/animals/cat.jpg",)


def test_to_uint8_rounds_and_clips():
    a = np.array([[[0.0, 0.5, 1.0], [-0.2, 1.7, 0.001]]], np.float32)
    assert to_uint8(a).tolist() == [[[0, 128, 255], [0, 255, 0]]]
    assert to_uint8(np.zeros((2, 3))).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="tile t"):
        to_uint8(np.zeros((2, 2, 4)), "tile t")
    with pytest.raises(ValueError):
        to_uint8(np.full((2, 2, 3), np.nan))


def _tiles(rng, sizes):
    return {f"k{i}": rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for i, (h, w) in enumerate(sizes)}


def _crop(out_dir, sheets, coords):
    s, x, y, w, h = coords
    with Image.open(out_dir / sheets[s]["file"].split("/")[-1]) as im:
        return np.asarray(im.convert("RGB"))[y:y + h, x:x + w]


def test_png_sheets_round_trip_pixel_exactly_across_groups_and_sheets(tmp_path):
    rng = np.random.default_rng(0)
    groups = {"a": _tiles(rng, [(30, 40), (30, 40), (17, 23), (50, 10), (30, 40)]),
              "b": {f"b{i}": t for i, t in enumerate(_tiles(rng, [(64, 64)] * 5).values())}}
    sheets, index = pack_sprites(groups, tmp_path, prefix="figures/x/", fmt="png", max_size=140)
    assert set(index) == set(groups["a"]) | set(groups["b"])
    assert {s["group"] for s in sheets} == {"a", "b"} and len([s for s in sheets if s["group"] == "b"]) >= 2
    for group, tiles in groups.items():
        for key, tile in tiles.items():
            s, x, y, w, h = index[key]
            assert sheets[s]["group"] == group and sheets[s]["file"].startswith("figures/x/")
            assert x + w <= sheets[s]["width"] and y + h <= sheets[s]["height"]
            np.testing.assert_array_equal(_crop(tmp_path, sheets, index[key]), tile)
    for s, sheet in enumerate(sheets):     # no two tiles (with their padding) overlap
        used = np.zeros((sheet["height"], sheet["width"]), int)
        for _, x, y, w, h in (c for c in index.values() if c[0] == s):
            used[y - 2:y + h + 2, x - 2:x + w + 2] += 1
        assert used.max() == 1
        with Image.open(tmp_path / sheet["file"].split("/")[-1]) as im:
            assert im.size == (sheet["width"], sheet["height"])


def test_padding_repeats_the_tile_edge(tmp_path):
    tile = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    sheets, index = pack_sprites({"g": {"t": tile}}, tmp_path, fmt="png", pad=2)
    _, x, y, w, h = index["t"]
    with Image.open(tmp_path / sheets[0]["file"]) as im:
        a = np.asarray(im)
    np.testing.assert_array_equal(a[y - 2:y, x:x + w], np.repeat(tile[:1], 2, axis=0))
    np.testing.assert_array_equal(a[y:y + h, x + w:x + w + 2], np.repeat(tile[:, -1:], 2, axis=1))


@pytest.mark.parametrize("fmt, tol", [("webp", 4.0), ("jpeg", 4.0)])
def test_lossy_sheets_round_trip_within_tolerance(tmp_path, fmt, tol):
    yy, xx = np.mgrid[0:48, 0:48] / 47.0
    tiles = {f"t{i}": np.stack([xx, yy, (xx + yy + i / 6) % 1.0 * 0.5], -1) for i in range(6)}
    sheets, index = pack_sprites({"g": tiles}, tmp_path, fmt=fmt, quality=90)
    assert sheets[0]["file"].endswith("." + fmt)
    for key, tile in tiles.items():
        err = np.abs(_crop(tmp_path, sheets, index[key]).astype(float) - to_uint8(tile).astype(float))
        assert err.mean() < tol, (key, err.mean())


def test_pack_rejects_duplicate_keys_and_bad_group_names(tmp_path):
    t = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="two groups"):
        pack_sprites({"a": {"k": t}, "b": {"k": t}}, tmp_path)
    with pytest.raises(ValueError, match="group"):
        pack_sprites({"a/b": {"k": t}}, tmp_path)


def test_cache_key_changes_with_what_shapes_the_figure_and_nothing_else(tmp_path):
    root = tmp_path
    (root / "images").mkdir()
    photo = root / "images" / "p.jpg"
    photo.write_bytes(b"photo bytes")
    spec = _spec(inputs=("images/p.jpg",))
    src = "def make(spec, config): ...\n"
    key = cache_key(spec, src, root, engine_version="1")
    assert key == cache_key(spec, src, root, engine_version="1")
    assert key == cache_key(dataclasses.replace(spec), src, root, engine_version="1")
    os.utime(photo, (1, 1))                                   # a touched input is not a changed input
    shutil.copy(photo, root / "images" / "other.jpg")         # nor is an unrelated file
    assert key == cache_key(spec, src, root, engine_version="1")
    changed = [cache_key(dataclasses.replace(spec, steps=101), src, root, engine_version="1"),
               cache_key(dataclasses.replace(spec, params={"size": 224, "lr": 0.06}), src, root, engine_version="1"),
               cache_key(dataclasses.replace(spec, seed=2), src, root, engine_version="1"),
               cache_key(spec, src + "# edit\n", root, engine_version="1"),
               cache_key(spec, src, root, engine_version="2"),
               cache_key(spec, src, root, quick=True, engine_version="1")]
    photo.write_bytes(b"photo bytes!")
    changed.append(cache_key(spec, src, root, engine_version="1"))
    assert len({key, *changed}) == len(changed) + 1
    with pytest.raises(FileNotFoundError, match="images/missing.jpg"):
        cache_key(_spec(inputs=("images/missing.jpg",)), src, root)


def test_cache_key_follows_the_engine_version_by_default(monkeypatch, tmp_path):
    import caricatures

    spec = _spec(inputs=())
    before = cache_key(spec, "x", tmp_path)
    monkeypatch.setattr(caricatures, "ENGINE_VERSION", caricatures.ENGINE_VERSION + ".1")
    assert cache_key(spec, "x", tmp_path) != before


def test_progress_goes_to_the_callback():
    seen = []
    FigureConfig(on_progress=lambda d, t: seen.append((d, t))).progress(3, 10)
    FigureConfig().progress(1, 2)
    assert seen == [(3, 10)]


def test_run_standalone_writes_sheets_and_index(tmp_path, capsys):
    from tests.fixtures.site.figures import bands

    out = run_standalone(bands.SPEC, bands.make, ["--quick", "--out", str(tmp_path)])
    index = json.loads((out / "index.json").read_text())
    assert index["id"] == "bands" and len(index["sheets"]) == 2 and len(index["tiles"]) == 6
    assert all((out / s["file"].split("/")[-1]).is_file() for s in index["sheets"])
    assert index["tiles"]["warm/0"][3:] == [16, 16]           # quick: size 16
    assert "bands: 6 tiles in 2 sheets" in capsys.readouterr().out
