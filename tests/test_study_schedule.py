"""bench/study_schedule.py: the summary against hand-made numbers, candidates parsed, and resuming per photo."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("study_schedule", ROOT / "bench" / "study_schedule.py")
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)


def _m(objective, gain, cosine=0.5):
    return {"objective": objective, "gain": gain, "cosine": cosine}


def test_summary_compares_each_pair_with_its_own_reference():
    results = {"a": {"reference": {"x": _m(10, 2.0), "y": _m(4, 1.0)}, "rows@8": {"x": _m(10, 2.0), "y": _m(2, 0.5)}},
               "b": {"reference": {"x": _m(20, 1.0), "y": _m(8, 2.0)}, "rows@8": {"x": _m(19, 0.9), "y": _m(8, 2.2)}},
               "c": {"reference": {"x": _m(1, 1.0), "y": _m(1, 1.0)}}}       # no candidate yet: left out
    s = study.summarize(results, ["x", "y"], ["rows@8"])["rows@8"]
    assert s["x"]["n"] == 2 and s["x"]["ref_objective"] == 15 and s["x"]["objective"] == 14.5
    assert s["x"]["rel_objective"] == pytest.approx(0.975) and s["x"]["rel_gain"] == pytest.approx(0.95)
    assert s["x"]["reached"] == 0.5            # b reaches 95% of the objective but not of the gain
    assert s["y"]["rel_gain"] == pytest.approx((0.5 + 1.1) / 2) and s["y"]["min_rel_gain"] == 0.5
    assert s["y"]["reached"] == 0.5 and s["all"]["n"] == 4 and s["all"]["reached"] == 0.5
    assert "| rows@8 | all | 4 |" in study.table({"rows@8": s})


def test_candidates_name_known_recipes_and_their_steps():
    assert study.parse_candidates("rows,coarse@96", 128) == [("rows", 128), ("coarse", 96)]
    with pytest.raises(SystemExit, match="unknown recipe"):
        study.parse_candidates("fast", 128)


def test_tiny_study_saves_per_photo_and_computes_only_what_is_missing(tmp_path, capsys):
    argv = ["--photos", "1", "--layers", "block0", "--size", "64", "--ref-steps", "3", "--steps", "2",
            "--out", str(tmp_path), "--candidates", "lucid"]
    assert study.main(argv) == 0
    (folder,) = tmp_path.iterdir()
    (photo,) = (p for p in folder.glob("*.json") if p.name != "summary.json")
    assert set(json.loads(photo.read_text())["results"]) == {"reference", "lucid@2"}
    assert capsys.readouterr().out.count("] images/") == 2
    assert study.main([*argv[:-1], "lucid,rows"]) == 0     # one more candidate: only it is computed
    out = capsys.readouterr().out
    assert "rows@2:" in out and "reference:" not in out and "lucid@2:" not in out
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary) == {"lucid@2", "rows@2"} and summary["rows@2"]["block0"]["n"] == 1
