"""The run phase of the build on a fixture site of tiny real runs: planning, deduplication, assembling without
optimizing, progress, a failing run, a killed build resuming, a dying worker, --plan, and a Ray cluster."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

import build as build_cli
from sitegen.config import BuildConfig
from sitegen.errors import BuildError
from sitegen.executors import InProcess
from sitegen.figures import discover
from sitegen.pipeline import build
from sitegen.runner import Speed, execute_plan, makespan, measure_speed, plan_runs, run_cost
from sitegen.runs import Where
from sitegen.runs.store import RunStore
from tests.conftest import ROOT
from tests.conftest import copy_site as copy_fixture

RUNSITE = Path(__file__).parent / "fixtures" / "runsite"
FP32 = Where("cpu", "fp32", 1)


def config_for(tmp: Path, site: Path = RUNSITE, **over) -> BuildConfig:
    base = BuildConfig(article=site / "article", figures=site / "figures", out=tmp / "public", cache=tmp / "cache",
                       jobs=0, progress=False, precision="fp32", device="cpu")
    return replace(base, **over)


def copy_site(tmp: Path) -> Path:
    return copy_fixture(tmp, RUNSITE, "runsite")


def test_plan_deduplicates_runs_across_figures_and_marks_cached_ones(tmp_path):
    config = config_for(tmp_path)
    scripts = list(discover(config).values())
    store = RunStore(tmp_path / "runs")
    plan = plan_runs(scripts, FP32, store)
    assert [len(plan.by_figure[f]) for f in ("pairs", "shared")] == [3, 2]
    assert len(plan.runs) == 4                               # the cat at block1 is declared by both figures
    shared = [p for p in plan.runs.values() if len(p.figures) == 2]
    assert len(shared) == 1 and shared[0].figures == ["pairs", "shared"] and shared[0].run.layers == ("block1",)
    assert all(not p.cached for p in plan.runs.values())
    store.put(shared[0].key, {}, {"x": __import__("numpy").zeros(1)}, {})
    assert len(plan_runs(scripts, FP32, store).missing) == 3


def test_executed_plan_reports_caricature_steps_up_to_the_total(tmp_path):
    config = config_for(tmp_path)
    plan = plan_runs(list(discover(config).values()), FP32, RunStore(tmp_path / "runs"))
    seen = []
    execute_plan(plan, InProcess(), FP32, RunStore(tmp_path / "runs"), lambda d, t: seen.append((d, t)))
    total = sum(p.run.work for p in plan.runs.values())
    assert seen[-1] == (total, total) and all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    assert all(RunStore(tmp_path / "runs").has(k) for k in plan.runs)


@pytest.mark.slow
def test_assembling_figures_whose_runs_are_cached_performs_no_optimization_step(tmp_path, monkeypatch):
    config = config_for(tmp_path)
    first = build(config)
    assert sorted(first.regenerated) == ["pairs", "shared"]
    prov = first.figures["pairs"]["provenance"]
    assert len(prov["runs"]) == 3 and all(r["provenance"]["device"] == "cpu" for r in prov["runs"])
    assert {"host", "node", "precision", "threads", "seconds"} <= set(prov["runs"][0]["provenance"])

    def forbidden(*a, **k):
        raise AssertionError("an optimization step ran while assembling")
    import caricatures.make
    import caricatures.render
    monkeypatch.setattr(caricatures.render, "optimize", forbidden)
    monkeypatch.setattr(caricatures.make, "optimize", forbidden)
    again = build(replace(config, force=True))
    assert sorted(again.regenerated) == ["pairs", "shared"] and len(again.plan.missing) == 0
    assert again.figures["pairs"]["provenance"]["content_hash"] == prov["content_hash"]
    monkeypatch.undo()
    with pytest.raises(BuildError, match="optimization step"):   # the guard itself bites
        monkeypatch.setattr(caricatures.make, "optimize", forbidden)
        build(replace(config, cache=tmp_path / "cold"))


def test_a_run_the_figure_did_not_declare_is_an_error_not_a_silent_optimization(tmp_path, capsys):
    site = copy_site(tmp_path)
    script = site / "figures" / "shared.py"
    script.write_text(script.read_text().replace(
        "for i, run in enumerate(runs(spec))}",
        "for i, run in enumerate([*runs(spec), tiny(spec.inputs[0], ('block3',), spec.steps)])}"))
    code = build_cli.run(_argv(tmp_path, site, "--only", "shared", "--jobs", "0"))
    err = capsys.readouterr().err
    assert code == 2 and "shared.py" in err and "run not declared by the figure's runs(spec)" in err and "block3" in err
    assert not list((tmp_path / "cache" / "runs").rglob("*.json"))[2:]   # only the two declared runs were made


def _argv(tmp: Path, site: Path, *extra: str) -> list[str]:
    return ["--article", str(site / "article"), "--figures", str(site / "figures"), "--out", str(tmp / "public"),
            "--cache", str(tmp / "cache"), "--no-progress", "--precision", "fp32", "--device", "cpu", *extra]


@pytest.mark.slow
def test_a_failing_run_exits_2_naming_figure_and_run_and_keeps_site_and_cache(tmp_path, capsys):
    site = copy_site(tmp_path)
    assert build_cli.run(_argv(tmp_path, site, "--jobs", "0")) == 0
    before = (tmp_path / "public" / "index.html").read_bytes()
    cached = sorted(p.name for p in (tmp_path / "cache" / "runs").rglob("*.npz"))
    script = site / "figures" / "pairs.py"
    script.write_text(script.read_text().replace('params={"layer": "block1"}', 'params={"layer": "block99"}'))
    capsys.readouterr()
    code = build_cli.run(_argv(tmp_path, site, "--jobs", "1"))
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(err) == 1, err
    assert "pairs.py" in err[0] and "figure 'pairs': run failed: KeyError" in err[0] and "block99" in err[0]
    assert "caricature efficientnet_lite0" in err[0] and "traceback:" in err[0]
    assert (tmp_path / "public" / "index.html").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "cache" / "runs").rglob("*.npz")) == cached


@pytest.mark.slow
def test_a_killed_build_resumes_with_the_runs_it_finished(tmp_path):
    site = copy_site(tmp_path)
    tiny = site / "figures" / "_tiny.py"
    tiny.write_text(tiny.read_text().replace("steps: int = 3", "steps: int = 3").replace(
        "size=32", "size=96"))                      # long enough to be killed in the middle
    runs = tmp_path / "cache" / "runs"
    proc = subprocess.Popen([sys.executable, "build.py", *_argv(tmp_path, site, "--jobs", "1")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs.rglob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(runs.rglob("*.json")))
    assert 1 <= done < 4, done
    assert not (tmp_path / "public").exists() and not list(runs.rglob(".*"))   # no half-written result
    out = subprocess.run([sys.executable, "build.py", *_argv(tmp_path, site)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert f"4 distinct, {done} cached, {4 - done} to make" in out.stderr


def _children_running_a_run(parent: int) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        try:
            stat = (p / "stat").read_text()
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if p.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmd:
            pids.append(int(p.name))
    return pids


@pytest.mark.slow
def test_a_local_worker_that_dies_is_replaced_and_its_run_tried_again(tmp_path, caplog):
    site = copy_site(tmp_path)
    tiny = site / "figures" / "_tiny.py"
    # runs long enough (seconds each) that the killer surely finds one in flight before any finishes
    tiny.write_text(tiny.read_text().replace("steps: int = 3", "steps: int = 24").replace("size=32", "size=96"))
    config = config_for(tmp_path, site, jobs=2)
    killed = []

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for pid in _children_running_a_run(os.getpid()):
                if len(list((tmp_path / "cache").rglob("*.json"))) == 0:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.2)

    t = threading.Thread(target=killer)
    t.start()
    with caplog.at_level("WARNING", logger="build"):
        site_built = build(config)
    t.join()
    assert killed and "a worker died; trying again" in caplog.text
    assert sorted(site_built.regenerated) == ["pairs", "shared"]


def test_makespan_schedules_longest_first():
    assert makespan([3, 3, 2, 2, 2], 2) == 7     # longest first: 3+2+2 and 3+2 (not the optimal 6)
    assert makespan([5, 1, 1], 4) == 5 and makespan([], 2) == 0


def test_plan_lists_runs_and_estimates_without_building(tmp_path, capsys, monkeypatch):
    from sitegen import pipeline
    monkeypatch.setattr(pipeline, "measure_speed", lambda where, cache: Speed(caricature=10.0, finetune=20.0))
    assert build_cli.run(_argv(tmp_path, RUNSITE, "--plan")) == 0
    out = capsys.readouterr().out
    assert "pairs" in out and "shared" in out and "4 distinct runs, 4 to make: 12 caricature-steps" in out
    assert "estimate:" in out and ("wall on 2 worker(s)" in out or "wall on 1 worker(s)" in out)
    assert not (tmp_path / "public").exists() and not (tmp_path / "cache" / "runs").exists()


def test_run_cost_scales_by_area_and_model_and_times_fine_tunes_by_their_own_speed():
    from sitegen.runs import ModelRef, caricature, finetune
    speed = Speed(caricature=40.0, finetune=80.0)
    def car(size, model="efficientnet_lite0"):
        return caricature(ModelRef(model), ["images/animals/cat.jpg"], ["block1", "block2"], steps=200, size=size)
    assert run_cost(car(224), speed) == pytest.approx(400 / 40)
    assert run_cost(car(112), speed) == pytest.approx(400 / 40 / 4)
    assert run_cost(car(224, "efficientnet_lite2"), speed) == pytest.approx(400 / 40 * 1.35)
    ft = finetune("efficientnet_lite0", "dead-leaves", steps=10, batch=32, lr=0.1, size=64, seed=0, checkpoints=[10],
                  test=2)
    assert run_cost(ft, speed) == pytest.approx(320 / 80)


@pytest.mark.slow
def test_the_speed_is_measured_once_and_kept(tmp_path):
    where = Where("cpu", "fp32", 1)
    speed = measure_speed(where, tmp_path)
    assert speed.caricature > 0 and speed.finetune > 0 and (tmp_path / "speed.json").exists()
    assert measure_speed(where, tmp_path) == speed      # read back, not measured again


@pytest.mark.slow
def test_local_workers_get_tuned_malloc_and_give_the_in_process_pixels(tmp_path):
    a = build(config_for(tmp_path / "a"))
    b = build(config_for(tmp_path / "b", jobs=2))
    for fig in ("pairs", "shared"):
        assert a.figures[fig]["provenance"]["content_hash"] == b.figures[fig]["provenance"]["content_hash"]
    runs = b.figures["pairs"]["provenance"]["runs"]
    assert all(r["provenance"]["malloc_tuned"] for r in runs)
    assert len({r["provenance"]["pid"] for r in runs}) >= 1 and all(r["provenance"]["pid"] != os.getpid()
                                                                    for r in runs)


@pytest.mark.slow
def test_pack_optimizes_runs_that_share_settings_as_one_batch(tmp_path):
    packed = build(config_for(tmp_path, pack=64))
    counts = sorted(r["provenance"]["packed_runs"] for r in packed.figures["pairs"]["provenance"]["runs"])
    assert counts == [3, 3, 3]                  # the three photos at block1, one batch (the cat's run shared)
    assert [r["provenance"].get("packed_runs") for r in packed.figures["shared"]["provenance"]["runs"]
            if r["run"]["layers"] == ["block2"]] == [None]


def test_a_packed_jobs_results_are_stored_under_their_own_runs(tmp_path):
    """Runs packed into one batch (the GPU build's default, pack_rows > 0, here on the CPU): each run's stored
    result is its own photo's, as when computed alone, not another run's of the pack."""
    import numpy as np

    from sitegen.runner import BuildPlan
    from sitegen.runs import execute, run_key
    from tests.fixtures.runsite.figures._tiny import PHOTOS, tiny
    store = RunStore(tmp_path / "runs")
    runs = [tiny(p, ("block1",), 2) for p in PHOTOS[:2]]      # the cat and the panda: same settings, two photos
    plan = BuildPlan()
    keys = [plan.add("f", r, FP32, store) for r in runs]
    plan.paths["f"] = tmp_path / "f.py"
    execute_plan(plan, InProcess(), FP32, store, pack_rows=64)
    for run, key in zip(runs, keys, strict=True):
        assert key == run_key(run, FP32)
        got, meta = store.get(key)
        alone, _ = execute(run, FP32)
        assert meta["run"]["photos"] == list(run.photos) and meta["provenance"]["packed_runs"] == 2
        assert np.array_equal(got["original"], alone["original"]), run.photos
        np.testing.assert_allclose(got["cosine"], alone["cosine"], rtol=1e-4, atol=1e-6, err_msg=str(run.photos))
        np.testing.assert_allclose(got["gain"], alone["gain"], rtol=1e-4, atol=1e-6, err_msg=str(run.photos))
    a, b = (store.get(k)[0]["original"] for k in keys)
    assert not np.array_equal(a, b)                          # the two results do tell the runs apart
