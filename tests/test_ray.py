"""The quick article built on a throwaway two-node Ray cluster on 127.0.0.1 (`--cluster local:2`)."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from sitegen.config import BuildConfig
from sitegen.pipeline import build


def _ray_task_pids() -> list[int]:
    """Return the processes running a Ray task of the build (Ray titles them "ray::compute")."""
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "cmdline").read_bytes().startswith(b"ray::compute"):
                pids.append(int(p.name))
        except OSError:
            continue
    return pids


@pytest.mark.slow
def test_quick_article_on_two_ray_nodes_matches_the_local_build_and_survives_a_killed_worker(tmp_path):
    pytest.importorskip("ray")
    killed: list[int] = []

    def kill_one_running_task() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            pids = _ray_task_pids()
            if pids and len(list((tmp_path / "ray" / "runs").rglob("*.json"))) >= 3:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.1)

    def config(name: str, **over) -> BuildConfig:
        return BuildConfig(quick=True, precision="fp32", device="cpu", threads=1, progress=False,
                           out=tmp_path / name / "public", cache=tmp_path / name, **over)

    killer = threading.Thread(target=kill_one_running_task)
    killer.start()
    on_ray = build(config("ray", cluster="local:2"))
    killer.join()
    assert killed, "no Ray task process was seen to kill"
    runs = [r for idx in on_ray.figures.values() for r in idx["provenance"]["runs"]]
    nodes = {r["provenance"]["node"] for r in runs}
    assert len(nodes) == 2 and None not in nodes, nodes
    assert {r["provenance"]["threads"] for r in runs} == {1}
    local = build(config("local"))
    assert sorted(local.figures) == sorted(on_ray.figures)
    for fig_id, index in on_ray.figures.items():   # the same pixels; numbers equal up to float64 rounding
        sheets = [s["file"].rsplit("/", 1)[1] for s in index["sheets"]]
        assert all((on_ray.entries[fig_id] / f).read_bytes() == (local.entries[fig_id] / f).read_bytes()
                              for f in sheets), fig_id
        assert_close(index["metrics"], local.figures[fig_id]["metrics"], fig_id)
        assert_close(index["data"], local.figures[fig_id]["data"], fig_id)


def assert_close(a, b, where: str) -> None:
    """Assert two JSON values are equal, floats within 1e-9 (relative); "seconds" are wall times, not results."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            if k != "seconds":
                assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), where
    else:
        assert a == b, where
