"""The run cache: one result per run key; the build's driver is its only writer.

    <root>/<key[:2]>/<key>.npz    the run's arrays
    <root>/<key[:2]>/<key>.json   the run, its provenance (where and how long it ran) and the npz's SHA-256

The npz is written first and the JSON last, both atomically, so a result is there only once both are whole;
`get` checks the digest, and a corrupted result reads as missing (and is removed), so the run is made again.
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np

from caricatures.files import sha256_bytes, write_atomic, write_json

log = logging.getLogger("build")


class RunStore:
    """Results of runs by key under `root` (normally .cache/runs)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.root / key[:2] / key
        return base.with_suffix(".npz"), base.with_suffix(".json")

    def has(self, key: str) -> bool:
        """Return whether a whole result is stored (both files, the npz of the recorded size)."""
        npz, meta = self._paths(key)
        try:
            return npz.stat().st_size == json.loads(meta.read_text())["bytes"]
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """Return (arrays, meta) of a stored result, or None when it is missing or does not verify."""
        npz, meta_path = self._paths(key)
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            data = npz.read_bytes()
            if sha256_bytes(data) != meta["sha256"]:
                raise ValueError("digest mismatch")
            with np.load(io.BytesIO(data)) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("run result %s does not verify (%s): removing it, the run will be made again", key[:12], e)
            npz.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return None
        return arrays, meta

    def put(self, key: str, run: dict, arrays: dict[str, np.ndarray], provenance: dict) -> None:
        """Store a result: the npz, then the JSON that vouches for it."""
        npz, meta = self._paths(key)
        npz.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        write_atomic(npz, data)
        write_json(meta, {"key": key, "run": run, "provenance": provenance, "sha256": sha256_bytes(data),
                          "bytes": len(data)})
