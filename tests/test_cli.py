"""Command line: bad input gives one line on stderr, exit status 2, nothing written; a real run writes one
PNG per layer and index.json; `models` lists layer names."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from caricatures.cli import main

ROOT = Path(__file__).resolve().parents[1]
PHOTO = str(ROOT / "images/animals/panda.jpg")


@pytest.fixture
def tiny_png(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(path)
    return str(path)


def bad_cases(tmp_path, tiny_png):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    return {
        "missing photo": ([str(tmp_path / "nope.jpg")], "no such file"),
        "unreadable photo": ([str(text)], "not a readable image"),
        "tiny photo": ([tiny_png], "too small"),
        "unknown model": ([PHOTO, "--model", "resnet9000"], "unknown model 'resnet9000'"),
        "unknown layer": ([PHOTO, "--layers", "block2,block99"], "unknown layer 'block99' for efficientnet_lite0; did you mean block9"),
        "zero steps": ([PHOTO, "--steps", "0"], "--steps must be a positive integer"),
        "text steps": ([PHOTO, "--steps", "many"], "invalid int value"),
        "negative lr": ([PHOTO, "--lr", "-1"], "--lr must be a positive number"),
        "small size": ([PHOTO, "--size", "8"], "--size must be between 32"),
        "unknown class": ([PHOTO, "--attribution", "zzzz"], "neither a layer nor a single ImageNet class"),
        "class index": ([PHOTO, "--attribution", "1000"], "out of range"),
        "bad iterate": ([PHOTO, "--iterate", "block2"], "must be START:END"),
        "iterate upward": ([PHOTO, "--iterate", "block2:block7"], "START must be the deeper layer"),
        "late layer": ([PHOTO, "--attribution", "block4", "--layers", "block7"], "comes after"),
        "iterate past target": ([PHOTO, "--attribution", "block4", "--iterate", "block7:block2"], "comes after"),
        "versus alone": ([PHOTO, "--versus", "tabby"], "--versus needs --attribution"),
        "bad device": ([PHOTO, "--device", "tpu"], "--device must be cpu or cuda"),
        "unknown recipe": ([PHOTO, "--recipe", "fast"], "unknown recipe 'fast'; choose one of lucid, "),
        "coarse recipe, pixels": ([PHOTO, "--recipe", "coarse", "--param", "pixel"], "needs param='fft'"),
    }


def test_bad_input_one_line_exit_2_nothing_written(tmp_path, tiny_png, capsys):
    out = tmp_path / "out" / "run"
    for name, (args, message) in bad_cases(tmp_path, tiny_png).items():
        extra = ([] if "--steps" in args else ["--steps", "1"]) + ([] if "--size" in args else ["--size", "32"])
        code = main(["caricature", *args, *extra, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, name
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, (name, err)
        assert not out.exists() and not (tmp_path / "out").exists(), name


def test_interrupt_is_one_line_exit_130_and_keeps_the_previous_run(tmp_path, capsys, monkeypatch):
    import caricatures.make

    out = tmp_path / "run"
    out.mkdir()
    (out / "index.json").write_text("{}")

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt
    monkeypatch.setattr(caricatures.make, "make_caricatures", interrupted)
    code = main(["caricature", PHOTO, "--steps", "1", "--size", "32", "--out", str(out)])
    assert code == 130
    assert capsys.readouterr().err == "interrupted; no new results written\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and [p.name for p in out.iterdir()] == ["index.json"]
    assert (out / "index.json").read_text() == "{}"


def test_bf16_refused_where_the_cpu_lacks_it(tmp_path, capsys):
    from caricatures.prepare import bf16_supported
    if bf16_supported("cpu"):
        pytest.skip("this CPU has native bf16")
    assert main(["caricature", PHOTO, "--out", str(tmp_path / "o"), "--precision", "bf16"]) == 2
    assert "no native bf16" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_out_that_is_a_file_or_foreign_directory(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    assert main(["caricature", PHOTO, "--out", str(file), "--steps", "1"]) == 2
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    assert main(["caricature", PHOTO, "--out", str(foreign), "--steps", "1"]) == 2
    assert (foreign / "keep.txt").read_text() == "mine" and file.read_text() == "x"
    assert "non-empty directory without index.json" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["caricature", "--help"])
    text = capsys.readouterr().out
    for option in ("--out", "--model", "--layers", "--steps", "--lr", "--cossim-pow", "--seed", "--size",
                   "--attribution", "--versus", "--iterate", "--recipe", "--param", "--transforms", "--device",
                   "--precision", "--quiet"):
        assert option in text


@pytest.mark.slow
def test_run_writes_pngs_and_index(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["caricature", PHOTO, "--out", str(out), "--layers", "block0,block4", "--steps", "3",
                 "--size", "48", "--quiet"])
    assert code == 0, capsys.readouterr().err
    index = json.loads((out / "index.json").read_text())
    assert index["model"] == "efficientnet_lite0" and index["steps"] == 3 and index["seed"] == 0
    assert index["recipe"] == "lucid"
    assert [e["name"] for e in index["layers"]] == ["block0", "block4"]
    assert [e["title"] for e in index["layers"]] == ["block 0 · 16 ch · 24×24", "block 4 · 40 ch · 6×6"]
    for e in index["layers"]:
        assert set(e) >= {"name", "file", "cosine", "gain"} and -1 <= e["cosine"] <= 1
        assert Image.open(out / e["file"]).size == (48, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary directory left
    # A second run replaces the first in place.
    assert main(["caricature", PHOTO, "--out", str(out), "--layers", "block0", "--steps", "2", "--size", "48",
                 "--quiet", "--attribution", "espresso"]) == 0
    index = json.loads((out / "index.json").read_text())
    assert [e["name"] for e in index["layers"]] == ["block0"] and index["settings"]["attribution"] == "logit 967"
    assert sorted(p.name for p in out.iterdir()) == ["00_block0.png", "index.json", "original.png"]


@pytest.mark.slow
def test_recipe_is_followed_and_recorded(tmp_path, capsys):
    args = [PHOTO, "--layers", "block0", "--steps", "3", "--size", "48", "--quiet"]
    pixels = {}
    for recipe in ("lucid", "rows"):
        assert main(["caricature", *args, "--recipe", recipe, "--out", str(tmp_path / recipe)]) == 0, capsys.readouterr().err
        index = json.loads((tmp_path / recipe / "index.json").read_text())
        assert index["recipe"] == index["settings"]["recipe"] == recipe
        pixels[recipe] = np.asarray(Image.open(tmp_path / recipe / index["layers"][0]["file"]))
    assert not np.array_equal(pixels["lucid"], pixels["rows"])  # block 0's rate is 8× lucid's under "rows"


@pytest.mark.slow
def test_models_lists_layers_through_python_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "caricatures", "models"], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2", "block7.branch"):
        assert name in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "caricatures", "caricature", "nope.jpg", "--out", str(tmp_path / "o")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and not (tmp_path / "o").exists()
