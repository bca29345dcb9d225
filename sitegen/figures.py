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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np

import caricatures
from caricatures.files import write_atomic, write_json
from sitegen import contract
from sitegen.cache import entry_dir, write_entry
from sitegen.config import BuildConfig
from sitegen.contract import FigureConfig, FigureResult, FigureSpec, cache_key, pack_sprites
from sitegen.errors import BuildError, display_path
from sitegen.runs import Run, Where

PACKAGES = {"torch": "torch", "numpy": "numpy", "pillow": "pillow"}


@dataclass(frozen=True)
class FigureScript:
    """A discovered figure: its script, effective spec (quick and --seed applied) and cache key."""

    id: str
    path: Path
    spec: FigureSpec
    key: str
    quick: bool

    module: ModuleType = field(compare=False, repr=False)

    def runs(self) -> list[Run]:
        """Return the runs the figure declares (none for a script without `runs(spec)`)."""
        declare = getattr(self.module, "runs", None)
        try:
            runs = list(declare(self.spec)) if declare else []
        except Exception as e:  # noqa: BLE001 -- a script may raise anything; name it and its line
            raise BuildError(f"figure {self.id!r}: runs(spec) failed: {type(e).__name__}: {e}", self.path,
                             script_line(e, self.path)) from None
        bad = [r for r in runs if not isinstance(r, Run)]
        if bad:
            raise BuildError(f"figure {self.id!r}: runs(spec) must return sitegen.runs.Run objects, got "
                             f"{type(bad[0]).__name__}", self.path)
        return runs

    def command(self, config) -> str:
        """Return the command that rebuilds this figure with the options that shaped it."""
        defaults = BuildConfig()
        dirs = "".join(f" --{name} {display_path(getattr(config, name))}" for name in ("figures", "article")
                       if getattr(config, name) != getattr(defaults, name))
        command = f"python build.py --only {self.id}" + dirs + (" --quick" if self.quick else "")
        return command + (f" --seed {self.spec.seed}" if self.spec.seed != self.module.SPEC.seed else "")


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
        found[spec.id] = FigureScript(spec.id, path, eff, key, config.quick, module)
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


def make_entry(script: FigureScript, config: BuildConfig, where: Where) -> Path:
    """Assemble one figure from its cached run results and write its cache entry; return the entry folder."""
    spec = script.spec
    fig_config = FigureConfig(quick=script.quick, device=where.device, seed=spec.seed, cache_dir=config.cache,
                              where=where)
    t0 = time.perf_counter()
    result = script.module.make(spec, fig_config)
    wall = time.perf_counter() - t0
    if not isinstance(result, FigureResult):
        raise TypeError(f"make() returned {type(result).__name__}, not a FigureResult")
    data = _jsonable(result.data, "FigureResult.data")
    metrics = _jsonable(result.metrics, "FigureResult.metrics")
    notes = _jsonable(result.notes, "FigureResult.notes")
    try:
        path = str(script.path.resolve().relative_to(config.root.resolve()))
    except ValueError:
        path = display_path(script.path)
    runs = [{"key": k, **v} for k, v in fig_config.used.items()]

    def fill(tmp: Path) -> None:
        sheets, tiles = pack_sprites(result.tiles, tmp, prefix=f"figures/{spec.id}/", fmt=config.sheet_format)
        h = hashlib.sha256()
        for s in sheets:
            h.update((tmp / Path(s["file"]).name).read_bytes())
        h.update(json.dumps([tiles, data, metrics], sort_keys=True).encode())
        provenance = {"script": path, "command": script.command(config), "spec": spec.to_json(), "seed": spec.seed,
                      "models": notes.pop("models", {}), "packages": package_versions(), **where.describe(),
                      "wall_time_s": round(wall + sum(r["provenance"]["seconds"] for r in runs), 3),
                      "assemble_s": round(wall, 3),
                      "content_hash": h.hexdigest(), "engine_version": caricatures.ENGINE_VERSION,
                      "quick": script.quick, "generated": datetime.now(UTC).isoformat(timespec="seconds"),
                      "runs": runs, "notes": notes}
        index = {"id": spec.id, "view": spec.view, "title": spec.title, "caption": spec.caption,
                 "layout": spec.layout, "sheets": sheets,
                 "tiles": tiles, "data": data, "metrics": metrics, "provenance": provenance}
        write_json(tmp / "index.json", index)

    return write_entry(entry_dir(config.cache, spec.id, script.quick, script.key), fill)


def failure(fig_id: str, path: Path, exc: BaseException, log_dir: Path) -> BuildError:
    """Return the one-line BuildError for a figure script that raised; keep its traceback in a log file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{fig_id}.txt"
    write_atomic(log, "".join(traceback.format_exception(exc)).encode())
    return BuildError(f"figure {fig_id!r} failed: {type(exc).__name__}: {exc} (traceback: {display_path(log)})",
                      path, script_line(exc, path))


