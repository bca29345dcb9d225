"""The figure cache: one folder per (figure, key), written under a temporary name and renamed into place.

    .cache/figures/<id>/<full|quick>-<key>/{index.json, <group>-<n>.webp, MANIFEST.json}

MANIFEST.json lists every file's SHA-256; `read_entry` checks it, so a corrupted or half-deleted entry
reads as missing (and is removed) and the figure is regenerated. An interrupted write leaves only a
`.tmp-*` folder, which `clean_temp` removes on the next build.
"""
from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from caricatures.files import sha256_file, write_atomic, write_dir

log = logging.getLogger("build")
MANIFEST = "MANIFEST.json"


def entry_dir(cache: Path, fig_id: str, quick: bool, key: str) -> Path:
    """Return the folder that holds (or would hold) a figure's entry for this key."""
    return cache / "figures" / fig_id / f"{'quick' if quick else 'full'}-{key}"


def write_entry(final: Path, fill: Callable[[Path], None]) -> Path:
    """Call fill(tmp) to write files into a fresh temporary folder, add the manifest, rename it to `final`.

    Older entries of the same figure and mode are removed afterwards; on any exception (KeyboardInterrupt
    included) the temporary folder is removed and nothing else changes.
    """
    def fill_with_manifest(tmp: Path) -> None:
        fill(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        write_atomic(tmp / MANIFEST, json.dumps({"files": files}, indent=1).encode())

    write_dir(final, fill_with_manifest)
    mode = final.name.split("-", 1)[0] + "-"
    for old in final.parent.glob(mode + "*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_entry(path: Path) -> dict | None:
    """Return the entry's index.json if every file matches its manifest; else remove the entry and return None."""
    if not path.is_dir():
        return None
    try:
        files = json.loads((path / MANIFEST).read_text())["files"]
        ok = "index.json" in files and all(sha256_file(path / n) == h for n, h in files.items())
        present = {p.name for p in path.iterdir()} - {MANIFEST}
        if ok and present == set(files):
            return json.loads((path / "index.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        pass
    log.warning("cache entry %s is corrupted or incomplete: removing it, the figure will be regenerated", path)
    shutil.rmtree(path, ignore_errors=True)
    return None


def latest_entry(cache: Path, fig_id: str, quick: bool) -> Path | None:
    """Return the most recently written entry of a figure in this mode, whatever its key."""
    mode = "quick-" if quick else "full-"
    found = sorted((cache / "figures" / fig_id).glob(mode + "*"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def clean_temp(cache: Path) -> None:
    """Remove temporary folders that an interrupted build left behind."""
    for tmp in (cache / "figures").glob("*/.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
