"""File helpers used everywhere: atomic writes, SHA-256 of files, float images to uint8, index.json.

Nothing is half-written: every write goes to a temporary file beside its target and is renamed into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes files owner-only; a web server may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_dir(final: Path, fill) -> Path:
    """Call fill(tmp) to fill a fresh temporary folder beside `final`, then rename it to `final` (replacing
    what was there); on any exception, KeyboardInterrupt included, the temporary folder goes and nothing else
    changes."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o755)   # mkdtemp makes folders owner-only; a web server may run as another user
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def write_json(path: Path, data, **dumps) -> None:
    """Write `data` as indented UTF-8 JSON (an index.json, a results file), atomically."""
    text = json.dumps(data, indent=1, ensure_ascii=False, **dumps) + "\n"
    write_atomic(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, remember: bool = False) -> str:
    """Return the hex SHA-256 of a file's bytes; with remember=True, computed once per (path, size, mtime)
    in this process (for inputs such as photos and weights, not for checking a cache)."""
    if not remember:
        return _sha256_file.__wrapped__(str(path), 0, 0)
    st = Path(path).stat()
    return _sha256_file(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@cache
def _sha256_file(path: str, _size: int, _mtime: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_uint8(images: np.ndarray, where: str = "image") -> np.ndarray:
    """Return uint8 images from uint8 or finite float data in [0, 1] (clipped, rounded half up); any shape."""
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return a
    if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
        raise ValueError(f"{where}: expected uint8 or finite floats in [0, 1], got {a.dtype}")
    return (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
