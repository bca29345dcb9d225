"""Frozen figures (sitegen/freeze.py, --freeze, --verify) on the tiny run site: used without computing, only
edited figures recomputed, integrity, verification, no stale entries, and progress lines off a terminal."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from sitegen.config import parse_args
from sitegen.errors import BuildError
from sitegen.pipeline import ProgressLines, build
from sitegen.verify import verify
from tests.test_runner import config_for, copy_site

pytestmark = pytest.mark.slow   # real (tiny) runs: Lite0 at 32 px, 3 steps


def frozen_config(tmp: Path, site: Path | None = None, cache: str = "cache", **over):
    over = {"frozen": tmp / "frozen", "cache": tmp / cache, **over}
    if site is not None:
        over.update(article=site / "article", figures=site / "figures")
    return config_for(tmp, **over)


def no_runs(monkeypatch) -> list:
    """Make computing a run fail the test; return the list of runs that were attempted."""
    attempted = []

    def refuse(run, *a, **k):
        attempted.append(run)
        raise AssertionError(f"a run was computed: {run}")
    monkeypatch.setattr("sitegen.executors.execute_pack", refuse)   # every executor computes through it
    return attempted


@pytest.fixture
def frozen_site(tmp_path):
    """The run site copied to tmp, built once with --freeze into tmp/frozen; return its folder."""
    site = copy_site(tmp_path)
    build(frozen_config(tmp_path, site, freeze=True))
    return site


def test_a_fresh_checkout_takes_every_figure_frozen_and_computes_no_run(tmp_path, frozen_site, monkeypatch):
    assert sorted(p.name for p in (tmp_path / "frozen").iterdir()) == ["pairs", "shared"]
    attempted = no_runs(monkeypatch)
    site = build(frozen_config(tmp_path, frozen_site, cache="fresh-cache", out=tmp_path / "public2"))
    assert sorted(site.frozen) == ["pairs", "shared"] and site.regenerated == [] and attempted == []
    assert not (tmp_path / "fresh-cache" / "runs").exists()
    html = (tmp_path / "public2" / "index.html").read_text()
    assert "Tiny pairs" in html and (tmp_path / "public2" / "figures" / "pairs").is_dir()


def test_editing_one_figure_recomputes_exactly_that_figure(tmp_path, frozen_site, monkeypatch):
    script = frozen_site / "figures" / "pairs.py"
    script.write_text(script.read_text().replace('title="Tiny pairs"', 'title="Tiny pairs, edited"'))
    site = build(frozen_config(tmp_path, frozen_site, cache="fresh-cache"))
    assert site.frozen == ["shared"] and site.regenerated == ["pairs"]
    plan = parse_args(["--plan"])   # --plan counts frozen figures as done: only pairs' runs are listed
    from sitegen.pipeline import show_plan
    text = show_plan(replace(frozen_config(tmp_path, frozen_site, cache="empty-cache"), plan=plan.plan))
    assert text.startswith("frozen (done): shared\n") and "pairs" in text and "\nshared " not in text


def test_a_corrupted_frozen_file_stops_the_build_and_names_it(tmp_path, frozen_site):
    build(frozen_config(tmp_path, frozen_site, cache="c2"))
    before = (tmp_path / "public" / "index.html").read_text()
    (index,) = (tmp_path / "frozen" / "shared").glob("*/index.json")
    index.write_text(index.read_text().replace('"Tiny shared"', '"Tiny shared!"'))
    with pytest.raises(BuildError) as err:
        build(frozen_config(tmp_path, frozen_site, cache="c3"))
    message = str(err.value)
    assert "frozen figure 'shared': index.json does not match its manifest" in message
    assert str(index.relative_to(tmp_path)) in message or index.name in message
    assert "python build.py --freeze" in message
    assert (tmp_path / "public" / "index.html").read_text() == before   # the previous build is intact


def _rewrite(folder: Path, name: str, edit) -> None:
    """Edit a frozen file and its manifest together (as a wrong commit would)."""
    path = folder / name
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    from caricatures.files import sha256_file
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    manifest["files"][name] = sha256_file(path)
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))


def test_verify_recomputes_frozen_runs_and_catches_an_altered_metric(tmp_path, frozen_site):
    config = frozen_config(tmp_path, frozen_site, cache="verify-cache", verify=4, verify_seed=1)
    lines = []
    assert verify(config, lines.append) == 0
    assert "seed 1" in lines[0] and "4 of 4 frozen runs" in lines[0]
    assert sum(line.endswith("| yes | 0.00e+00 | 0.00e+00 | ok |") for line in lines) == 4, lines
    (folder,) = (tmp_path / "frozen" / "shared").iterdir()

    def alter(records):
        key = min(records)
        records[key]["metrics"]["gain"][0][0] *= 1.01
        return records
    _rewrite(folder, "RUNS.json", alter)
    lines = []
    assert verify(config, lines.append) == 1
    assert sum("OUTSIDE" in line for line in lines) == 1 and lines[-1].startswith("verify: 3 agree, 1 outside")


def test_freeze_leaves_no_unused_entries(tmp_path, frozen_site):
    (tmp_path / "frozen" / "gone" / "0123").mkdir(parents=True)   # a figure whose script was deleted
    old = {p.name for p in (tmp_path / "frozen" / "pairs").iterdir()}
    script = frozen_site / "figures" / "pairs.py"
    script.write_text(script.read_text().replace('title="Tiny pairs"', 'title="Tiny pairs, refrozen"'))
    build(frozen_config(tmp_path, frozen_site, freeze=True))
    assert sorted(p.name for p in (tmp_path / "frozen").iterdir()) == ["pairs", "shared"]
    (new,) = (tmp_path / "frozen" / "pairs").iterdir()
    assert new.name not in old and json.loads((new / "index.json").read_text())["title"] == "Tiny pairs, refrozen"
    assert not list(tmp_path.glob(".frozen.*"))                     # no temporary folder left behind


def test_freeze_refuses_quick_and_only_and_verify_builds_nothing():
    for argv in (["--freeze", "--quick"], ["--freeze", "--only", "pairs"], ["--verify", "2", "--quick"]):
        with pytest.raises(SystemExit):
            parse_args(argv)


def test_quick_builds_never_take_frozen_figures(tmp_path, frozen_site):
    site = build(frozen_config(tmp_path, frozen_site, cache="quick-cache", quick=True))
    assert site.frozen == [] and sorted(site.regenerated) == ["pairs", "shared"]


@pytest.mark.parametrize("interval", [0.0])
def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, caplog, interval, monkeypatch):
    monkeypatch.setattr(ProgressLines, "INTERVAL_S", interval)
    with caplog.at_level(logging.INFO, logger="build"):
        build(config_for(tmp_path))   # pytest's stderr is not a terminal
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("runs: ") and " done, " in r.getMessage()]
    assert lines and lines[-1].startswith("runs: 4/4 done, ") and "caricature-steps (100%)" in lines[-1]
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("built ")][-1]
    assert " s of it computing runs (2 figures made, 0 frozen, 0 from the cache)" in summary


def test_the_real_articles_frozen_figures_reproduce_one_cheap_run():
    """CI's check that frozen/ still reproduces: one cheap run of the real article, recomputed and compared
    (exact where this machine computes as the frozen run did, else within the cross-precision tolerance)."""
    from sitegen.config import BuildConfig
    config = BuildConfig()
    if not any(config.frozen.glob("*/*/RUNS.json")):
        pytest.skip("frozen/ holds no figure yet: run `python build.py --freeze` once and commit frozen/")
    lines = []
    status = verify(replace(config, verify=1, verify_under=4096, verify_seed=0), lines.append)
    assert status == 0, "\n".join(lines)
