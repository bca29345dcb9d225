"""Runs: validation, the run key (what changes it and what does not), the run cache, and executing each kind."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import caricatures
from sitegen.runs import (
    ModelRef,
    Where,
    attribution,
    caricature,
    channel,
    execute,
    make_run,
    photo_view,
    run_key,
)
from sitegen.runs import run as run_mod
from sitegen.runs.store import RunStore

LITE0 = ModelRef("efficientnet_lite0")
CAT, PANDA = "images/animals/cat.jpg", "images/animals/panda.jpg"
CPU = Where("cpu", "fp32", 1)


def _run(**over):
    settings = {"size": 32, "lr": 0.05, "seed": 0, **over.pop("settings", {})}
    args = {"model": LITE0, "photos": [CAT], "layers": ["block1"], "steps": 3, **over}
    return caricature(args["model"], args["photos"], args["layers"], steps=args["steps"], **settings)


def test_same_run_same_key_whatever_the_order_of_settings():
    a = caricature(LITE0, [CAT], ["block1"], steps=3, size=32, lr=0.05, seed=0)
    b = caricature(LITE0, [CAT], ["block1"], steps=3, seed=0, lr=0.05, size=32)
    assert a == b and hash(a) == hash(b) and run_key(a, CPU) == run_key(b, CPU)


@pytest.mark.parametrize("change", [
    {"settings": {"lr": 0.1}}, {"settings": {"seed": 1}}, {"settings": {"size": 48}},
    {"settings": {"cossim_pow": 1.0}}, {"settings": {"transforms": None}}, {"steps": 4},
    {"settings": {"objective": "dot_compare_scaled"}},
    {"photos": [PANDA]}, {"layers": ["block2"]}, {"layers": ["block1", "block2"]},
    {"model": ModelRef("efficientnet_lite0", "random")}, {"model": ModelRef("mobilenet_v2")},
    {"model": ModelRef("efficientnet_lite0", reinit=("block15",))},
    {"model": ModelRef("efficientnet_lite0", preprocess="x255")},
])
def test_a_changed_setting_photo_or_model_changes_the_key(change):
    assert run_key(_run(**change), CPU) != run_key(_run(), CPU)


def test_the_objective_is_named_in_the_key_unless_it_is_the_default():
    assert _run(settings={"objective": "dot_compare"}) == _run()
    attr = {"attribution": "logit:281"}
    assert _run(settings={**attr, "objective": "attribution_dot"}) == _run(settings=attr)
    accent = _run(settings={**attr, "objective": "attribution_accent"})
    assert accent.options["objective"] == "attribution_accent"
    assert run_key(accent, CPU) != run_key(_run(settings=attr), CPU)
    with pytest.raises(ValueError, match="unknown caricature objective 'attribution_accent'; valid: dot_compare"):
        _run(settings={"objective": "attribution_accent"})
    with pytest.raises(ValueError, match="'dot_compare_scaled' is not an attribution caricature objective"):
        _run(settings={**attr, "objective": "dot_compare_scaled"})


def test_where_resolved_precision_device_and_threads_change_the_key():
    run = _run()
    keys = {run_key(run, w) for w in (CPU, Where("cpu", "bf16", 1), Where("cpu", "fp32", 2),
                                      Where("cuda", "fp32", 1))}
    assert len(keys) == 4
    assert run_key(run, Where("cuda", "bf16", 1)) == run_key(run, Where("cuda", "bf16", 4))   # GPU: no threads


def test_random_weights_are_told_apart_by_seed_and_imagenet_by_the_file_digest(monkeypatch):
    r0, r1 = (_run(model=ModelRef("efficientnet_lite0", "random", seed=s)) for s in (0, 1))
    assert run_key(r0, CPU) != run_key(r1, CPU)
    before = run_key(_run(), CPU)
    monkeypatch.setattr(run_mod, "weights_sha256", lambda name, weights: "another file")
    assert run_key(_run(), CPU) != before


def test_photo_bytes_and_engine_version_change_the_key(tmp_path, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(run_mod.ROOT / "images" / "animals", root / "images" / "animals")
    monkeypatch.setattr(run_mod, "ROOT", root)
    before = run_key(_run(), CPU)
    photo = root / CAT
    photo.write_bytes(photo.read_bytes() + b"\0")
    assert run_key(_run(), CPU) != before
    after = run_key(_run(), CPU)
    monkeypatch.setattr(caricatures, "ENGINE_VERSION", caricatures.ENGINE_VERSION + ".1")
    assert run_key(_run(), CPU) != after


def test_bad_runs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown run kind"):
        make_run("dream", LITE0, [CAT], ["block1"], 3)
    with pytest.raises(ValueError, match=r"unknown settings \['lrate'\]"):
        caricature(LITE0, [CAT], ["block1"], steps=3, lrate=0.1)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        caricature(LITE0, [CAT], ["block1"], steps=0)
    with pytest.raises(FileNotFoundError, match="images/animals/nope.jpg does not exist"):
        caricature(LITE0, ["images/animals/nope.jpg"], ["block1"], steps=3)
    with pytest.raises(ValueError, match="unknown preprocess"):
        caricature(ModelRef("efficientnet_lite0", preprocess="bgr"), [CAT], ["block1"], steps=3)
    with pytest.raises(TypeError, match="not a plain JSON value"):
        caricature(LITE0, [CAT], ["block1"], steps=3, snapshots={1, 2})
    with pytest.raises(ValueError, match="attribution target"):
        run_mod.parse_target("class:3")


def test_work_counts_caricature_steps():
    assert _run(photos=[CAT, PANDA], layers=["block1", "block2"], steps=5).work == 20
    assert channel(LITE0, "block1", 3, steps=7, batch=2).work == 14
    assert attribution(LITE0, CAT, ["block1"], "logit:3").work == 1


def test_store_round_trips_and_a_corrupted_or_half_written_result_reads_as_missing(tmp_path):
    store, key = RunStore(tmp_path), "ab" + "0" * 62
    arrays = {"images": np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3), "gain": np.array([1.5])}
    assert not store.has(key) and store.get(key) is None
    store.put(key, {"kind": "caricature"}, arrays, {"seconds": 1.0})
    got, meta = store.get(key)
    assert store.has(key) and meta["run"] == {"kind": "caricature"} and meta["provenance"]["seconds"] == 1.0
    assert all(np.array_equal(got[k], v) for k, v in arrays.items())
    npz = tmp_path / key[:2] / f"{key}.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    assert store.get(key) is None and not npz.exists() and not store.has(key)
    store.put(key, {}, arrays, {})
    (tmp_path / key[:2] / f"{key}.json").unlink()              # killed between the two writes
    assert not store.has(key) and store.get(key) is None
    meta = tmp_path / key[:2] / f"{key}.json"
    store.put(key, {}, arrays, {})
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "bytes": 1}))
    assert not store.has(key)


@pytest.mark.slow
def test_execute_each_kind_and_record_where_it_ran():
    arrays, prov = execute(_run(photos=[CAT, PANDA], layers=["block1", "block2"]), CPU)
    assert arrays["images"].shape == (2, 2, 32, 32, 3) and arrays["images"].dtype == np.uint8
    assert arrays["original"].shape == (2, 32, 32, 3) and arrays["history"].shape == (3, 2, 2)
    assert arrays["cosine"].shape == arrays["gain"].shape == (2, 2)
    assert prov["device"] == "cpu" and prov["precision"] == "fp32" and prov["threads"] == 1
    assert prov["seconds"] > 0 and prov["host"] and prov["engine_version"] == caricatures.ENGINE_VERSION
    one = photo_view(arrays, 1)
    assert one["images"].shape == (2, 32, 32, 3) and one["history"].shape == (3, 2)
    assert np.array_equal(one["images"], arrays["images"][1])
    again, _ = execute(_run(photos=[CAT, PANDA], layers=["block1", "block2"]), CPU)
    assert np.array_equal(again["images"], arrays["images"])                      # deterministic
    vis, _ = execute(channel(LITE0, "block1", 3, steps=2, size=32, batch=2, transforms=None), CPU)
    assert vis["images"].shape == (2, 32, 32, 3) and vis["objective"].shape == (2,)
    maps, _ = execute(attribution(LITE0, CAT, ["block2", "block4"], "logit:281", size=64), CPU)
    assert set(maps) == {"block2", "block4"} and maps["block4"].max() == pytest.approx(1.0)
    attr, _ = execute(_run(settings={"attribution": "energy:block4"}, layers=["block1", "block3"]), CPU)
    assert attr["attribution_map_0"].shape[1:] == (8, 8) and attr["attribution_map_1"].shape[1:] == (4, 4)
    assert photo_view(attr, 0)["attribution_map_1"].shape == (4, 4)
    for settings in ({"objective": "dot_compare_scaled"}, {"attribution": "energy:block4", "cossim_pow": 1},
                     {"attribution": "energy:block4", "objective": "attribution_accent"}):
        named, _ = execute(_run(settings=settings), CPU)   # the run's objective reaches the optimization
        plain, _ = execute(_run(settings={k: v for k, v in settings.items() if k not in ("objective", "cossim_pow")}),
                           CPU)
        assert not np.allclose(named["objective"], plain["objective"]), settings
    broken, _ = execute(_run(model=ModelRef("efficientnet_lite0", preprocess="x255")), CPU)
    assert not np.array_equal(broken["images"], execute(_run(), CPU)[0]["images"])


@pytest.mark.slow
def test_packed_runs_give_each_run_its_own_pixels_and_numbers():
    """Two runs optimized as one batch: each gets what it gets alone (its own random start, same transforms)."""
    from sitegen.runs import execute_pack
    runs = [_run(photos=[CAT], layers=["block1", "block3"], settings={"attribution": "energy:block4"}),
            _run(photos=[PANDA, "images/objects/coffee.jpg"], layers=["block1", "block3"],
                 settings={"attribution": "energy:block4"})]
    alone = [execute(r, CPU)[0] for r in runs]
    packed = execute_pack(runs, CPU)
    assert [prov["packed_runs"] for _, prov in packed] == [2, 2]
    for (got, _), want in zip(packed, alone):
        assert sorted(got) == sorted(want)
        for name in want:
            assert got[name].shape == want[name].shape, name
            if want[name].dtype == np.uint8:
                assert np.abs(got[name].astype(int) - want[name]).max() <= 1, name
            else:
                np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-6, err_msg=name)
        assert np.mean(got["images"] != want["images"]) < 0.01
    with pytest.raises(ValueError, match="can be packed"):
        execute_pack([runs[0], _run(layers=["block2"])], CPU)


def test_pack_jobs_groups_runs_that_share_everything_but_photos_within_the_row_budget():
    from sitegen.runner import PlannedRun, pack_jobs
    same = [_run(photos=[p], layers=["block1", "block2"]) for p in (CAT, PANDA, "images/objects/coffee.jpg")]
    other = _run(photos=[CAT], layers=["block3"])
    vis = channel(LITE0, "block1", 3, steps=3, size=32)
    todo = [PlannedRun(str(i), r, ["f"], False) for i, r in enumerate([*same, other, vis])]
    alone = pack_jobs(todo, 0)
    assert sorted(len(j) for j in alone) == [1] * 5
    jobs = pack_jobs(todo, 64)
    assert sorted(len(j) for j in jobs) == [1, 1, 3]
    assert {p.run for j in jobs if len(j) == 3 for p in j} == set(same)
    full = [_run(photos=[p], layers=["block1", "block2"], settings={"size": 224}) for p in (CAT, PANDA)]
    small = _run(photos=["images/objects/coffee.jpg"], layers=["block1", "block2"], settings={"size": 224})
    full.append(small)
    todo = [PlannedRun(str(i), r, ["f"], False) for i, r in enumerate(full)]
    assert sorted(len(j) for j in pack_jobs(todo, 4)) == [1, 2]     # two rows each at the input size: two fit
    assert sorted(len(j) for j in pack_jobs(todo, 6)) == [3]


def test_a_maco_runs_key_names_every_magnitude_photos_content_and_an_fft_runs_does_not(monkeypatch):
    """A MaCo run's fixed magnitude is the mean spectrum of every credited photo: changing the bytes of one of
    them (not just their number) changes its key; an fft run, which does not use them, keeps its key."""
    from caricatures.param import natural_photos
    maco, fft = _run(settings={"param": "maco"}), _run(settings={"param": "fft"})
    assert maco.options["param"] == "maco"
    before = {r: run_key(r, CPU) for r in (maco, fft)}
    assert {r: run_key(r, CPU) for r in (maco, fft)} == before              # nothing changed: the same keys
    assert before[maco] != before[fft]
    one = next(f"images/{p}" for p in natural_photos() if f"images/{p}" not in maco.photos)
    digest = run_mod.photo_sha256

    def edited(path: str) -> str:   # the same photos, one of them with other bytes
        return "0" * 64 if path == one else digest(path)
    monkeypatch.setattr(run_mod, "photo_sha256", edited)
    assert run_key(maco, CPU) != before[maco]
    assert run_key(fft, CPU) == before[fft]
