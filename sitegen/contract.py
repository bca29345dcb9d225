"""The figure contract: a script declares a `FigureSpec`, its `make(spec, config)` returns a `FigureResult`.

    SPEC = FigureSpec(id="in_context", title="...", view="grid", inputs=("images/animals/cat.jpg",))
    def make(spec: FigureSpec, config: FigureConfig) -> FigureResult: ...
    if __name__ == "__main__":
        run_standalone(SPEC, make)      # python -m figures.in_context [--quick] [--out out/]

The build (`sitegen/`) imports this module, never the other way round. See docs/FIGURES.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

import caricatures
from caricatures.files import sha256_file, to_uint8, write_atomic, write_json
from sitegen import ROOT
from sitegen.runs import Run, Where, execute, resolve, resolve_where, run_key
from sitegen.runs.store import RunStore

LAYOUTS = ("l-body", "l-middle", "l-page", "l-screen")
SHEET_FORMATS = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}


@dataclass(frozen=True)
class FigureSpec:
    """Everything that determines a figure's output; its JSON form is part of the cache key."""

    id: str
    title: str
    view: str
    layout: str = "l-page"
    caption: str = ""                    # Markdown; used when the article's figure(...) gives none
    inputs: tuple[str, ...] = ()         # photo paths relative to the repository root
    models: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    steps: int = 0
    seed: int = 0
    params: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)   # overrides of steps/inputs/params/... under --quick

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"figure {self.id!r}: layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        for name in ("inputs", "models", "layers"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (tuple, list)):
                raise TypeError(f"figure {self.id!r}: {name} must be a tuple of strings, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        unknown = set(self.quick) - {f.name for f in dataclasses.fields(self)} - {"quick", "id"}
        if unknown or "id" in self.quick or "quick" in self.quick:
            raise ValueError(f"figure {self.id!r}: quick overrides unknown or fixed fields {sorted(self.quick)}")

    def resolved(self, quick: bool) -> FigureSpec:
        """Return the effective spec: under quick, `quick` overrides apply (params are merged, not replaced)."""
        if not quick or not self.quick:
            return self
        over = dict(self.quick)
        if "params" in over:
            over["params"] = {**self.params, **over["params"]}
        return dataclasses.replace(self, **over)

    def to_json(self) -> dict:
        """Return the spec as plain JSON data (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self), sort_keys=True))


@dataclass
class FigureResult:
    """What `make` returns: tiles by group → key → image (H, W, 3) float in [0, 1] or uint8, plus JSON."""

    tiles: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    data: dict = field(default_factory=dict)      # view-specific, refers to tiles by key
    metrics: dict = field(default_factory=dict)   # numbers the article uses: {{ fig.<id>.metrics.<name> }}
    notes: dict = field(default_factory=dict)     # extra provenance; notes["models"] = {name: weights sha256}


@dataclass(frozen=True)
class FigureConfig:
    """What a figure script's `make` sees: quick, device, seed, and the results of the runs it declared.

    `result(run)` reads a run's arrays from the run cache. In the build every declared run is computed before
    `make` is called, and asking for an undeclared one is an error (so `runs` and `make` cannot drift apart);
    standalone (`compute=True`) a missing run is computed here and stored.
    """

    quick: bool = False
    device: str = "cpu"
    seed: int = 0
    cache_dir: Path = ROOT / ".cache"
    on_progress: Callable[[float, float], None] | None = None
    where: Where = field(default_factory=Where)
    compute: bool = False
    used: dict = field(default_factory=dict)      # run key → {"run": …, "provenance": …}, filled by result()

    def progress(self, done: float, total: float) -> None:
        """Report that `done` of `total` units of work are finished."""
        if self.on_progress is not None:
            self.on_progress(done, total)

    def result(self, run: Run) -> dict[str, np.ndarray]:
        """Return the arrays of a run's result (see sitegen/runs/execute.py for what each kind holds)."""
        store = RunStore(self.cache_dir / "runs")
        if run.model.finetune is not None and self.compute:
            self.result(run.model.finetune)     # standalone: the fine-tune first, so its checkpoint can be read
        run = resolve(run, self.where, store)
        key = run_key(run, self.where)
        got = store.get(key)
        if got is None:
            if not self.compute:
                raise LookupError(f"run not declared by the figure's runs(spec), or not made: {run}")
            arrays, prov = execute(run, self.where, lambda done: self.progress(done, run.work))
            store.put(key, run.describe(), arrays, prov)
            got = arrays, {"run": run.describe(), "provenance": prov}
        arrays, meta = got
        self.used[key] = {"run": meta["run"], "provenance": meta["provenance"]}
        return arrays


def figure_source(script: Path) -> str:
    """Return what a figure's cache key hashes as its code: the script and the shared helpers beside it
    (`_*.py`, e.g. figures/_common.py), since editing a helper can change what the script makes."""
    helpers = sorted(p for p in script.parent.glob("_*.py") if p.name != "__init__.py")
    return "".join(f"# --- {p.name}\n{p.read_text(encoding='utf-8')}" for p in [script, *helpers])


def cache_key(spec: FigureSpec, source: str, root: Path = ROOT, quick: bool = False,
              engine_version: str | None = None) -> str:
    """Return the hex key of a resolved spec: its JSON, the script source, ENGINE_VERSION, the input bytes'
    SHA-256 and the quick flag (so editing anything in the script, its caption included, regenerates it)."""
    inputs = {}
    for rel in spec.inputs:
        path = root / rel
        if not path.is_file():
            raise FileNotFoundError(f"figure {spec.id!r}: input {rel} does not exist (paths are relative to "
                                    f"{root})")
        inputs[rel] = sha256_file(path)
    blob = {"spec": spec.to_json(), "source": hashlib.sha256(source.encode()).hexdigest(), "inputs": inputs,
            "engine": caricatures.ENGINE_VERSION if engine_version is None else engine_version, "quick": quick}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def tile_uint8(tile: np.ndarray, where: str = "tile") -> np.ndarray:
    """Return an (H, W, 3) uint8 image from uint8 or float [0, 1] data (grey (H, W) is broadcast)."""
    a = np.asarray(tile)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{where}: expected an (H, W, 3) image, got shape {a.shape}")
    return to_uint8(a, where)

def _shelves(sizes: list[tuple[int, int]], max_size: int) -> list[tuple[int, int, int]]:
    """Place (w, h) boxes left to right in rows; return (sheet, x, y) per box, a new sheet when one is full."""
    widest = max(w for w, _ in sizes)
    width = max(widest, min(max_size, int(np.ceil(np.sqrt(len(sizes)))) * widest))
    out, sheet, x, y, row = [], 0, 0, 0, 0
    for w, h in sizes:
        if x + w > width:
            x, y, row = 0, y + row, 0
        if y + h > max_size and y > 0:
            sheet, x, y, row = sheet + 1, 0, 0, 0
        out.append((sheet, x, y))
        x, row = x + w, max(row, h)
    return out


def pack_sprites(tiles: dict[str, dict[str, np.ndarray]], out_dir: Path, prefix: str = "", fmt: str = "webp",
                 quality: int = 90, max_size: int = 4096, pad: int = 2) -> tuple[list[dict], dict[str, list]]:
    """Pack each group's tiles into sheets under out_dir; return (sheets, {key: [sheet, x, y, w, h]}).

    Each tile is surrounded by `pad` pixels copied from its own edge, so scaled display does not bleed
    neighbours in; sheet file names are `<group>-<n>.<fmt>`, listed as `prefix + name`.
    """
    if fmt not in SHEET_FORMATS:
        raise ValueError(f"sheet format {fmt!r} is not one of {', '.join(SHEET_FORMATS)}")
    sheets: list[dict] = []
    index: dict[str, list] = {}
    for group, items in tiles.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", group):
            raise ValueError(f"tile group {group!r}: use letters, digits, '_', '.', '-' (it names a file)")
        images = {k: tile_uint8(v, f"tile {group}/{k}") for k, v in items.items()}
        if not images:
            continue
        place = _shelves([(a.shape[1] + 2 * pad, a.shape[0] + 2 * pad) for a in images.values()], max_size)
        canvases: dict[int, np.ndarray] = {}
        for (key, a), (s, x, y) in zip(images.items(), place):
            if key in index:
                raise ValueError(f"tile key {key!r} appears in two groups; keys must be unique per figure")
            h, w = a.shape[:2]
            need = canvases.get(s, np.zeros((0, 0, 3), np.uint8))
            H, W = max(need.shape[0], y + h + 2 * pad), max(need.shape[1], x + w + 2 * pad)
            if (H, W) != need.shape[:2]:
                grown = np.zeros((H, W, 3), np.uint8)
                grown[:need.shape[0], :need.shape[1]] = need
                canvases[s] = need = grown
            need[y:y + h + 2 * pad, x:x + w + 2 * pad] = np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
            index[key] = [len(sheets) + s, x + pad, y + pad, w, h]
        for s in sorted(canvases):
            name = f"{group}-{s}.{fmt}"
            buf = io.BytesIO()
            opts = {"quality": quality} if fmt != "png" else {}
            if fmt == "webp":
                opts["method"] = 4
            Image.fromarray(canvases[s]).save(buf, SHEET_FORMATS[fmt], **opts)
            write_atomic(out_dir / name, buf.getvalue())
            sheets.append({"file": prefix + name, "group": group, "width": canvases[s].shape[1],
                           "height": canvases[s].shape[0]})
    return sheets, index


def run_standalone(spec: FigureSpec, make: Callable[[FigureSpec, FigureConfig], FigureResult],
                   argv: list[str] | None = None) -> Path:
    """Run one figure outside the build; write its sheets and index.json under --out/<id>/."""
    ap = argparse.ArgumentParser(description=f"Make figure {spec.id!r} alone (the build runs it via "
                                 f"`python build.py --only {spec.id}`).")
    ap.add_argument("--quick", action="store_true", help="small steps/image counts")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--threads", type=int, default=1, help="threads per run on the CPU (default 1, as the build)")
    ap.add_argument("--seed", type=int, default=None, help=f"default: the spec's ({spec.seed})")
    ap.add_argument("--out", type=Path, default=ROOT / "out", help="folder for <id>/ (default: out/)")
    args = ap.parse_args(argv)
    eff = spec.resolved(args.quick)
    if args.seed is not None:
        eff = dataclasses.replace(eff, seed=args.seed)
    where = resolve_where(args.device, args.precision, args.threads)
    config = FigureConfig(quick=args.quick, device=where.device, seed=eff.seed, where=where, compute=True,
                          on_progress=lambda d, t: print(f"\r{spec.id}: {d:g}/{t:g}", end="", flush=True))
    t0 = time.perf_counter()
    result = make(eff, config)
    out = args.out / spec.id
    out.mkdir(parents=True, exist_ok=True)
    sheets, tiles = pack_sprites(result.tiles, out, prefix=f"figures/{spec.id}/")
    index = {"id": spec.id, "view": spec.view, "title": spec.title, "layout": spec.layout, "sheets": sheets,
             "tiles": tiles, "data": result.data, "metrics": result.metrics}
    write_json(out / "index.json", index)
    print(f"\n{spec.id}: {len(tiles)} tiles in {len(sheets)} sheets, {time.perf_counter() - t0:.1f} s → {out}")
    return out
