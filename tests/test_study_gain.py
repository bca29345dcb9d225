"""bench/study_gain.py: photo choice, the per-layer summary against hand-made numbers, and resuming."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("study_gain", ROOT / "bench" / "study_gain.py")
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)


def test_photos_are_spread_over_every_category():
    photos = study.spread_photos(30)
    assert len(photos) == len(set(photos)) == 30
    assert {p.split("/")[1] for p in photos} == {"animals", "objects", "places"}
    with pytest.raises(SystemExit, match="--photos"):
        study.spread_photos(0)


def test_summary_counts_gain_above_one_per_layer_and_overall():
    pairs = {"a": {"x": {"cosine": 0.5, "gain": 2.0}, "y": {"cosine": 0.9, "gain": 0.5}},
             "b": {"x": {"cosine": 0.7, "gain": 3.0}, "y": {"cosine": 0.8, "gain": 1.5}}}
    s = study.summarize(pairs, ["x", "y"])
    assert s["pairs"] == 4 and s["photos"] == 2
    assert s["layers"]["x"]["gain_above_1"] == 1.0 and s["layers"]["y"]["gain_above_1"] == 0.5
    assert s["gain_above_1"] == 0.75 and not s["passes"]
    assert s["layers"]["x"]["gain"]["median"] == 2.5 and s["layers"]["y"]["cosine"]["min"] == 0.8
    assert "FAIL" in study.table(s) and "75.0%" in study.table(s)


def test_tiny_study_writes_chunks_and_resumes(tmp_path, capsys):
    argv = ["--photos", "2", "--batch", "1", "--layers", "block2,block4", "--steps", "3", "--size", "64",
            "--out", str(tmp_path)]
    assert study.main(argv) == 0
    (folder,) = tmp_path.iterdir()
    chunks = sorted(p for p in folder.glob("*.json") if p.name != "summary.json")
    assert len(chunks) == 2
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["pairs"] == 4 and set(summary["layers"]) == {"block2", "block4"}
    first = capsys.readouterr().out
    assert first.count("[") >= 2            # two chunks computed

    stamps = [p.stat().st_mtime_ns for p in chunks]
    assert study.main(argv) == 0             # resumed: nothing recomputed
    assert [p.stat().st_mtime_ns for p in chunks] == stamps
    assert "[1/2]" not in capsys.readouterr().out


def test_reverse_takes_the_last_chunk_first(tmp_path, capsys):
    argv = ["--photos", "2", "--batch", "1", "--layers", "block2", "--steps", "2", "--size", "64",
            "--out", str(tmp_path), "--reverse"]
    assert study.main(argv) == 0
    out = capsys.readouterr().out
    assert out.index("[2/2]") < out.index("[1/2]")


def test_summary_of_another_engine_version(tmp_path, capsys):
    argv = ["--photos", "1", "--layers", "block2", "--steps", "2", "--size", "64", "--out", str(tmp_path)]
    assert study.main(argv) == 0
    (folder,) = tmp_path.iterdir()
    (chunk,) = (p for p in folder.glob("*.json") if p.name != "summary.json")
    settings = json.loads(chunk.read_text())["settings"]
    folder.rename(study.out_dir(tmp_path, {**settings, "engine": "0.0.1"}))  # as if an older engine made it
    capsys.readouterr()
    assert study.main([*argv, "--summary", "--engine", "0.0.1"]) == 0
    assert "1 photos, 1 pairs" in capsys.readouterr().out
    assert study.main([*argv, "--summary"]) == 0  # this engine's folder is empty
    assert "0 photos, 0 pairs" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="only goes with --summary"):
        study.main([*argv, "--engine", "0.0.1"])
