"""Frozen figures: the full article's assembled figures, committed under frozen/, so a fresh clone builds the
page without computing a run (Quarto's `freeze`, keyed like the figure cache).

    frozen/<figure id>/<key>/index.json, <sheets>, RUNS.json, MANIFEST.json

A figure is taken from frozen/ when the folder of its current key is there: its key covers the spec, the
script, its inputs and the engine version (not the machine), so editing any of them makes the figure stale
and only it is computed again. RUNS.json keeps each run's description, where it ran and its per-caricature
metrics, for `--verify`. MANIFEST.json lists every file's SHA-256: a frozen file that does not match stops the
build, naming the file. `--freeze` writes the store from a whole full build and removes every entry that no
figure uses, so it never holds two versions of a figure.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from caricatures.files import sha256_file, write_atomic, write_json
from sitegen.cache import MANIFEST
from sitegen.errors import BuildError, display_path
from sitegen.runs.store import RunStore

log = logging.getLogger("build")
RUNS = "RUNS.json"
METRICS = ("cosine", "gain", "objective")   # per-caricature arrays a run's result may hold


def frozen_dir(frozen: Path, fig_id: str, key: str) -> Path:
    return frozen / fig_id / key


def read_frozen(frozen: Path, fig_id: str, key: str) -> dict | None:
    """Return the frozen figure's index.json when frozen/ holds its key; None when it does not (stale or never
    frozen). A folder whose files do not match its manifest raises BuildError naming the file."""
    folder = frozen_dir(frozen, fig_id, key)
    if not folder.is_dir():
        return None
    fix = (f"restore it (git checkout -- {display_path(folder)}) or refreeze the article "
           "(python build.py --freeze)")
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BuildError(f"frozen figure {fig_id!r}: its manifest is missing or unreadable; {fix}",
                         folder / MANIFEST) from None
    present = {p.name for p in folder.iterdir()} - {MANIFEST}
    for name in sorted(set(files) | present):
        path = folder / name
        if name not in files:
            raise BuildError(f"frozen figure {fig_id!r}: {name} is not in its manifest; {fix}", path)
        if not path.is_file():
            raise BuildError(f"frozen figure {fig_id!r}: {name} is missing; {fix}", path)
        if sha256_file(path) != files[name]:
            raise BuildError(f"frozen figure {fig_id!r}: {name} does not match its manifest (corrupted, "
                             f"half-merged or edited by hand); {fix}", path)
    return json.loads((folder / "index.json").read_text())


def frozen_runs(folder: Path) -> dict[str, dict]:
    """Return RUNS.json of a frozen figure: run key → {run, where, metrics}."""
    path = folder / RUNS
    return json.loads(path.read_text()) if path.is_file() else {}


def run_record(store: RunStore, key: str) -> dict:
    """What RUNS.json keeps of a stored run: its description, where it ran, its per-caricature metrics."""
    got = store.get(key)
    if got is None:
        raise BuildError(f"run {key[:12]} is not in the run cache; --freeze needs every run of the article")
    arrays, meta = got
    metrics = {m: np.asarray(arrays[m], dtype=float).tolist() for m in METRICS if m in arrays}   # exact
    where = {k: meta["provenance"].get(k) for k in ("device", "precision", "threads", "device_name")}
    return {"run": meta["run"], "where": where, "metrics": metrics}


def freeze(entries: dict[str, tuple[str, Path]], store: RunStore, frozen: Path) -> dict[str, int]:
    """Write frozen/ anew from figure id → (key, entry folder), copying each entry with its RUNS.json (from
    the run cache, or the frozen entry's own), then swap it in whole; return counts for the log."""
    frozen.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{frozen.name}.tmp-", dir=frozen.parent))
    try:
        for fig_id, (key, entry) in sorted(entries.items()):
            dest = frozen_dir(stage, fig_id, key)
            dest.mkdir(parents=True)
            for p in sorted(entry.iterdir()):
                if p.is_file() and p.name not in (MANIFEST, RUNS):
                    shutil.copy2(p, dest / p.name)
            index = json.loads((entry / "index.json").read_text())
            keys = [r["key"] for r in index.get("provenance", {}).get("runs", [])]
            old = frozen_runs(entry)
            write_json(dest / RUNS, {k: old[k] if k in old else run_record(store, k) for k in keys})
            files = {p.name: sha256_file(p) for p in sorted(dest.iterdir())}
            write_atomic(dest / MANIFEST, json.dumps({"files": files}, indent=1).encode())
        before = {p.parent.name + "/" + p.name for p in frozen.glob("*/*")} if frozen.is_dir() else set()
        old = frozen.with_name(f".{frozen.name}.old-{os.getpid()}")
        if frozen.exists():
            os.replace(frozen, old)
        os.replace(stage, frozen)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    after = {f"{i}/{k}" for i, (k, _) in entries.items()}
    return {"figures": len(after), "new": len(after - before), "removed": len(before - after)}


def store_size(frozen: Path) -> int:
    """Bytes under frozen/."""
    return sum(p.stat().st_size for p in frozen.rglob("*") if p.is_file())
