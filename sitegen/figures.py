"""Figure scripts: discover them, key them, and make one figure's cache entry (sheets + index.json)."""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np

import generate
from generate import figure as contract
from generate.figure import FigureConfig, FigureResult, FigureSpec, cache_key, pack_sprites, write_atomic
from sitegen.cache import entry_dir, write_entry
from sitegen.config import BuildConfig
from sitegen.errors import BuildError, display_path

PACKAGES = {"torch": "torch", "numpy": "numpy", "pillow": "pillow"}


@dataclass(frozen=True)
class FigureScript:
    """A discovered figure: its script, effective spec (quick and --seed applied) and cache key."""

    id: str
    path: Path
    spec: FigureSpec
    key: str
    quick: bool

    def job(self, config) -> dict:
        """Return the JSON-able description a worker needs to make this figure."""
        defaults = BuildConfig()
        dirs = "".join(f" --{name} {display_path(getattr(config, name))}" for name in ("figures", "article")
                       if getattr(config, name) != getattr(defaults, name))
        return {"id": self.id, "script": str(self.path), "quick": self.quick, "seed": self.spec.seed, "dirs": dirs,
                "device": config.device, "cache": str(config.cache), "root": str(config.root),
                "format": config.sheet_format, "entry": str(entry_dir(config.cache, self.id, self.quick, self.key))}


def load_module(path: Path) -> ModuleType:
    """Import a figure script by path; an exception while importing names the script and line."""
    name = f"caricature_figure_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module   # dataclasses and pickle look a class's module up here
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 -- a script may raise anything; report it as one line
        raise BuildError(f"importing the figure script failed: {type(e).__name__}: {e}", path,
                         script_line(e, path)) from None
    return module


def script_line(exc: BaseException, path: Path) -> int | None:
    """Return the line of the innermost traceback frame inside `path`."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return getattr(exc, "lineno", None) if line is None and isinstance(exc, SyntaxError) else line


def effective_spec(spec: FigureSpec, quick: bool, seed: int | None) -> FigureSpec:
    """Return the spec as the build runs it: quick overrides applied, the seed overridden when given."""
    spec = spec.resolved(quick)
    return spec if seed is None else dataclasses.replace(spec, seed=seed)


def discover(config) -> dict[str, FigureScript]:
    """Import every <id>.py under config.figures and return them by id, sorted; bad scripts are errors."""
    found = {}
    for path in sorted(config.figures.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = load_module(path)
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, FigureSpec) or not callable(getattr(module, "make", None)):
            raise BuildError("a figure script must define SPEC = FigureSpec(...) and make(spec, config)", path)
        if spec.id != path.stem:
            raise BuildError(f"SPEC.id {spec.id!r} must equal the file name {path.stem!r}", path)
        eff = effective_spec(spec, config.quick, config.seed)
        try:
            key = cache_key(eff, contract.figure_source(path), config.root, config.quick)
        except FileNotFoundError as e:
            raise BuildError(str(e), path) from None
        found[spec.id] = FigureScript(spec.id, path, eff, key, config.quick)
    return found


def _jsonable(value, where: str):
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"{type(o).__name__} is not JSON-able")
    try:
        return json.loads(json.dumps(value, default=default, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None


def package_versions() -> dict[str, str]:
    """Return the versions of the packages that shape figure pixels (without importing them)."""
    out = {"python": platform.python_version()}
    for name, dist in PACKAGES.items():
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def make_entry(job: dict, on_progress: Callable[[float, float], None] | None = None) -> Path:
    """Run one figure script and write its cache entry; return the entry folder (exceptions propagate)."""
    path = Path(job["script"])
    module = load_module(path)
    spec = effective_spec(module.SPEC, job["quick"], job["seed"])
    config = FigureConfig(quick=job["quick"], device=job["device"], seed=spec.seed, cache_dir=Path(job["cache"]),
                          on_progress=on_progress)
    t0 = time.perf_counter()
    result = module.make(spec, config)
    wall = time.perf_counter() - t0
    if not isinstance(result, FigureResult):
        raise TypeError(f"make() returned {type(result).__name__}, not a FigureResult")
    data = _jsonable(result.data, "FigureResult.data")
    metrics = _jsonable(result.metrics, "FigureResult.metrics")
    notes = _jsonable(result.notes, "FigureResult.notes")
    try:
        script = str(path.resolve().relative_to(Path(job["root"]).resolve()))
    except ValueError:
        script = display_path(path)

    def fill(tmp: Path) -> None:
        sheets, tiles = pack_sprites(result.tiles, tmp, prefix=f"figures/{spec.id}/", fmt=job["format"])
        h = hashlib.sha256()
        for s in sheets:
            h.update((tmp / Path(s["file"]).name).read_bytes())
        h.update(json.dumps([tiles, data, metrics], sort_keys=True).encode())
        command = f"python build.py --only {spec.id}" + job.get("dirs", "") + (" --quick" if job["quick"] else "")
        if spec.seed != module.SPEC.seed:
            command += f" --seed {spec.seed}"
        provenance = {"script": script, "command": command, "spec": spec.to_json(), "seed": spec.seed,
                      "models": notes.pop("models", {}), "packages": package_versions(), "device": job["device"],
                      "wall_time_s": round(wall, 3), "content_hash": h.hexdigest(),
                      "engine_version": generate.ENGINE_VERSION, "quick": job["quick"],
                      "generated": datetime.now(UTC).isoformat(timespec="seconds"), "notes": notes}
        index = {"id": spec.id, "view": spec.view, "title": spec.title, "caption": spec.caption,
                 "layout": spec.layout, "sheets": sheets,
                 "tiles": tiles, "data": data, "metrics": metrics, "provenance": provenance}
        write_atomic(tmp / "index.json", json.dumps(index, indent=1, ensure_ascii=False).encode())

    return write_entry(Path(job["entry"]), fill)


def failure(fig_id: str, path: Path, exc: BaseException, log_dir: Path) -> BuildError:
    """Return the one-line BuildError for a figure script that raised; keep its traceback in a log file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{fig_id}.txt"
    write_atomic(log, "".join(traceback.format_exception(exc)).encode())
    return BuildError(f"figure {fig_id!r} failed: {type(exc).__name__}: {exc} (traceback: {display_path(log)})",
                      path, script_line(exc, path))


