"""The command line on a user's own module: --model FILE.py:factory, --weights, `layers`, errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from caricatures.cli import main

ROOT = Path(__file__).resolve().parents[1]
PHOTO = str(ROOT / "images/animals/panda.jpg")

NET = '''
import torch
from torch import nn


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.fc(x.mean((2, 3)))


def small():
    torch.manual_seed(0)
    return Small()


def with_preprocess():
    return small(), lambda x: 2 * x - 1


def not_a_module():
    return 3
'''


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return path


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_layers_lists_dotted_names_with_shapes(net_file, capsys):
    code, out, err = _run(["layers", "--model", f"{net_file}:small", "--weights", "random", "--size", "64"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("small: 4 layers at 64 px; preprocessing default: ImageNet mean")
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["conv1", "conv2", "fc", "output"]   # act runs twice: no single output, not a layer
    assert "(8, 32, 32)" in lines[1] and "(16, 16, 16)" in lines[2] and "(5,)" in lines[3]


def test_weights_are_required_for_a_users_module(net_file, capsys):
    code, _, err = _run(["layers", "--model", f"{net_file}:small"], capsys)
    assert code == 2 and "give --weights random or --weights FILE" in err and err.count("\n") == 1


def test_a_weights_file_is_loaded_and_a_mismatch_names_the_key(net_file, tmp_path, capsys):
    sys.path.insert(0, str(net_file.parent))
    try:
        import mynet
    finally:
        sys.path.remove(str(net_file.parent))
    net = mynet.small()
    state = {k: v + 1 for k, v in net.state_dict().items()}
    good = tmp_path / "good.pt"
    torch.save(state, good)
    from caricatures.models.user import load_factory, load_weights
    loaded, _ = load_factory(f"{net_file}:small")
    assert load_weights(loaded, str(good)) == "good.pt"
    assert torch.equal(loaded.conv1.weight, state["conv1.weight"])
    bad = tmp_path / "bad.pt"
    torch.save({**state, "conv2.weight": torch.zeros(16, 8, 5, 5)}, bad)
    code, _, err = _run(["layers", "--model", f"{net_file}:small", "--weights", bad], capsys)
    assert code == 2 and "key 'conv2.weight' has shape (16, 8, 5, 5) in the file but (16, 8, 3, 3)" in err
    missing = tmp_path / "missing.pt"
    torch.save({k: v for k, v in state.items() if k != "fc.bias"}, missing)
    code, _, err = _run(["layers", "--model", f"{net_file}:small", "--weights", missing], capsys)
    assert code == 2 and "key 'fc.bias' of the model is missing from the file" in err


@pytest.mark.parametrize("spec, message", [
    ("{f}:nothing", "has no callable 'nothing'"),
    ("{f}:not_a_module", "not_a_module() returned int, not a torch.nn.Module"),
    ("nowhere.py:small", "no such file nowhere.py"),
    ("no_such_package_xyz.mod:small", "cannot import no_such_package_xyz.mod"),
])
def test_bad_factories_exit_2_naming_the_problem(net_file, capsys, spec, message):
    code, _, err = _run(["layers", "--model", spec.format(f=net_file), "--weights", "random"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_unknown_layer_exits_2_with_the_closest_names(net_file, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = _run(["caricature", PHOTO, "--model", f"{net_file}:small", "--weights", "random",
                         "--layers", "conv3", "--size", "64", "--steps", "1", "--out", out], capsys)
    assert code == 2 and "unknown layer 'conv3' for small; did you mean conv2, conv1?" in err
    assert not out.exists()


def test_a_caricature_of_a_users_module(net_file, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = _run(["caricature", PHOTO, "--model", f"{net_file}:with_preprocess", "--weights", "random",
                         "--layers", "conv1", "--size", "64", "--steps", "64", "--precision", "fp32", "--quiet",
                         "--out", out], capsys)
    assert code == 0, err
    index = json.loads((out / "index.json").read_text())
    (entry,) = index["layers"]
    assert entry["name"] == "conv1" and entry["gain"] > 1
    assert index["settings"]["weights"] == "random" and index["size"] == 64
    from PIL import Image
    assert np.isfinite(np.asarray(Image.open(out / entry["file"]), dtype=float)).all()


def test_mean_and_std_are_for_a_users_module_only(capsys, tmp_path):
    code, _, err = _run(["layers", "--model", "efficientnet_lite0", "--mean", "0.5,0.5,0.5", "--std", "1,1,1"],
                        capsys)
    assert code == 2 and "--mean/--std are for your own module" in err


def test_the_console_script_module_runs_layers(net_file):
    proc = subprocess.run([sys.executable, "-m", "caricatures", "layers", "--model", f"{net_file.name}:small",
                           "--weights", "random", "--size", "32"], cwd=net_file.parent, capture_output=True,
                          text=True, check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "conv2" in proc.stdout and "(16, 8, 8)" in proc.stdout


@pytest.mark.slow
def test_the_installed_package_works_outside_the_repository(tmp_path, net_file):
    """Build the wheel, install it alone into a folder, and run the console script's module from elsewhere:
    nothing of the repository (article, figures, sitegen, images) is needed."""
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels,
                    ROOT], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = wheels.glob("caricatures-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel], check=True,
                   capture_output=True)
    assert sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info")) == ["bin", "caricatures"]
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "CARICATURES_NO_REEXEC": "1"}
    run = [sys.executable, "-m", "caricatures"]
    listed = subprocess.run([*run, "layers", "--model", "mynet.py:small", "--weights", "random", "--size", "64"],
                            cwd=net_file.parent, capture_output=True, text=True, env=env, check=False)
    assert listed.returncode == 0, listed.stderr
    assert "conv1" in listed.stdout and str(site) in subprocess.run(
        [sys.executable, "-c", "import caricatures; print(caricatures.__file__)"], cwd=tmp_path, env=env,
        capture_output=True, text=True, check=True).stdout
    made = subprocess.run([*run, "caricature", PHOTO, "--model", "mynet.py:small", "--weights", "random", "--layers",
                           "conv1", "--size", "64", "--steps", "64", "--quiet", "--out", "out"],
                          cwd=net_file.parent, capture_output=True, text=True, env=env, check=False)
    assert made.returncode == 0, made.stderr
    (entry,) = json.loads((net_file.parent / "out" / "index.json").read_text())["layers"]
    assert entry["gain"] > 1
    bad = subprocess.run([*run, "caricature", PHOTO, "--model", "mynet.py:small", "--weights", "random", "--layers",
                          "conv9", "--out", "out2"], cwd=net_file.parent, capture_output=True, text=True, env=env,
                         check=False)
    assert bad.returncode == 2 and "did you mean" in bad.stderr


def test_a_factory_named_by_module_path(capsys, monkeypatch):
    """--model package.module:factory imports the module (here the tests' own small CNN class as factory)."""
    monkeypatch.chdir(ROOT)
    code, out, err = _run(["layers", "--model", "tests.own_models:SmallCNN", "--weights", "random", "--size", "32"],
                          capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith("SmallCNN: ") and "conv2" in out and "(16, 16, 16)" in out
