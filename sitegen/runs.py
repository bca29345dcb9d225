"""Runs, the unit of work: a frozen request for one optimization (or attribution) and the key of its result.

    run = caricature(ModelRef("efficientnet_lite0"), ["images/animals/panda.jpg"], ["block2"], steps=128, size=128)
    where = Where("cpu", "fp32", threads=1)        # how it is computed: part of the key, since it moves pixels
    key = run_key(run, where)                       # engine, weights and photo digests, every setting
    arrays, provenance = execute(run, where)        # what the figure scripts read back

A figure script declares the runs it needs (`runs(spec)`); the build computes each missing run once, wherever
its executor puts it, and the script's `make` only reads results. Kinds: "caricature" (photos × layers,
optimized jointly as lucid's recipe does), "channel" (feature visualizations of one channel),
"attribution" (attribution maps, no optimization) and "finetune" (a model trained on another data set, with
checkpoints; see sitegen/finetune.py).

A run may use a fine-tuned checkpoint: `ModelRef(name, "finetune", finetune=<the finetune run>, checkpoint=step)`.
Its key holds the checkpoint's SHA-256, read from the parent's stored result, so it is known only once the
parent is computed: `run_key(run, where, store)` resolves it, and raises ParentPending before.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import caricatures
from caricatures.files import sha256_file, to_uint8
from caricatures.runtime import MALLOC_ENV
from sitegen import ROOT

KINDS = {  # kind → the settings it takes (validated once, when the run is made)
    "caricature": {"size", "lr", "seed", "cossim_pow", "transforms", "param", "attribution", "iterate",
                   "snapshots", "recipe", "objective", "objective_args", "init"},
    "channel": {"channel", "size", "lr", "seed", "batch", "param", "decorrelate", "transforms", "position"},
    "attribution": {"target", "iterate", "size"},
    "finetune": {"dataset", "batch", "lr", "size", "seed", "checkpoints", "test"},
}


class ParentPending(LookupError):
    """A run's key needs the result of a run not computed yet (a fine-tuned checkpoint's parent)."""

    def __init__(self, parent: Run):
        super().__init__(f"needs the result of {parent} first")
        self.parent = parent


@dataclass(frozen=True)
class ModelRef:
    """A model of the zoo by name: ImageNet or seeded random weights, stages re-initialized, or fed through
    another model's preprocessing (a named entry of PREPROCESS, for broken setups)."""

    name: str
    weights: str = "imagenet"
    seed: int = 0
    reinit: tuple[str, ...] = ()
    preprocess: str | None = None
    finetune: Run | None = None                 # weights "finetune": the run that trained them
    checkpoint: int = 0                         # … and its step
    stored: tuple[str, str, str] | None = None  # (run store, parent key, checkpoint SHA-256) once resolved

    def load(self):
        """Return the model (loaded once per process)."""
        return _load(self)

    def describe(self) -> dict:
        """Return the JSON that tells these weights apart: the file's digest, the seed of random ones, or the
        fine-tuned checkpoint's digest (ParentPending while its run is not computed)."""
        if self.finetune is not None:
            if self.stored is None:
                raise ParentPending(self.finetune)
            return {"name": self.name, "weights": "finetune", "finetune": self.finetune.describe(),
                    "checkpoint": self.checkpoint, "sha256": self.stored[2]}
        out = {"name": self.name, "weights": self.weights, "sha256": weights_sha256(self.name, self.weights)}
        if self.weights != "imagenet" or self.reinit:
            out.update(seed=self.seed, reinit=list(self.reinit))
        if self.preprocess:
            out["preprocess"] = self.preprocess
        return out

    @property
    def label(self) -> str:
        """Return the weights tag used in provenance, e.g. "imagenet+reinit:block15", "imagenet+preprocess:x255"
        or "finetune:dead-leaves@600"."""
        if self.finetune is not None:
            return f"finetune:{self.finetune.options['dataset']}@{self.checkpoint}"
        tag = self.weights + (f"+reinit:{','.join(self.reinit)}" if self.reinit else "")
        return tag + (f"+preprocess:{self.preprocess}" if self.preprocess else "")


def _x255(x):
    return x * 255.0


def _preprocess_table() -> dict[str, Callable]:
    from caricatures.models import efficientnet_lite, mobilenet_v2
    return {"x255": _x255, "imagenet-mean-std": mobilenet_v2.preprocess,
            "lite-255x-127": efficientnet_lite.preprocess}


PREPROCESS = ("x255", "imagenet-mean-std", "lite-255x-127")   # names a ModelRef may use


def finetuned(run: Run, step: int) -> ModelRef:
    """Return the ModelRef of checkpoint `step` of a finetune run (unresolved: see `resolve`)."""
    if run.kind != "finetune":
        raise ValueError(f"not a finetune run: {run}")
    if step not in run.options["checkpoints"]:
        raise ValueError(f"step {step} is not a checkpoint of {run}; checkpoints: {run.options['checkpoints']}")
    return ModelRef(run.model.name, "finetune", finetune=run, checkpoint=step)


def resolve(run: Run, where: Where, store) -> Run:
    """Return `run` with its fine-tuned model's checkpoint located in `store` (a RunStore) and its digest read;
    raise ParentPending when the parent's result is not there. Other runs come back as they are."""
    ref = run.model
    if ref.finetune is None or ref.stored is not None:
        return run
    key = run_key(ref.finetune, where)
    digest = _checkpoint_digest(str(store.root), key, ref.name, ref.checkpoint) if store.has(key) else None
    if digest is None:
        raise ParentPending(ref.finetune)
    return dataclasses.replace(run, model=dataclasses.replace(ref, stored=(str(store.root), key, digest)))


@cache
def _checkpoint_digest(root: str, key: str, name: str, step: int) -> str | None:
    from sitegen.runstore import RunStore
    got = RunStore(Path(root)).get(key)
    return None if got is None else _step_sha256(got[0], name, step)


def _step_sha256(arrays: dict[str, np.ndarray], name: str, step: int) -> str:
    """Return checkpoint `step`'s digest; step 0 is the ImageNet network itself (its file's digest)."""
    from sitegen.finetune import checkpoint_sha256
    return weights_sha256(name, "imagenet") if step == 0 else checkpoint_sha256(arrays, step)


@cache
def _load(ref: ModelRef):
    from caricatures.models import load_model
    if ref.finetune is not None:
        return _load_checkpoint(ref)
    model = load_model(ref.name, weights=ref.weights, seed=ref.seed, reinit=ref.reinit)
    if ref.preprocess:
        model = dataclasses.replace(model, preprocess=_preprocess_table()[ref.preprocess],
                                    weights=f"{model.weights}+preprocess:{ref.preprocess}")
    return model


SHIPPED: dict[str, dict[str, np.ndarray]] = {}   # parent key → checkpoint arrays sent with a job (Ray workers)


def _parent_arrays(ref: ModelRef) -> dict[str, np.ndarray]:
    """Return the stored result of a checkpoint's fine-tune run: shipped with the job, or from the run cache."""
    from sitegen.runstore import RunStore
    if ref.stored is None:
        raise ParentPending(ref.finetune)
    root, key, _ = ref.stored
    if key in SHIPPED:
        return SHIPPED[key]
    got = RunStore(Path(root)).get(key)
    if got is None:
        raise FileNotFoundError(f"fine-tuned checkpoint: the result {key[:12]} of {ref.finetune} is not in "
                                f"{root}, nor sent with the job (see `ship`)")
    return got[0]


def checkpoint_arrays(runs: Sequence[Run]) -> dict[str, dict[str, np.ndarray]]:
    """Return, per parent key, the arrays of the fine-tuned checkpoints `runs` use (read from the run cache of
    this machine), for a worker that does not see it: `ship` them there before executing the runs."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for ref in {r.model for r in runs if r.model.finetune is not None and r.model.checkpoint}:
        arrays, prefix = _parent_arrays(ref), f"w{ref.checkpoint}:"
        out.setdefault(ref.stored[1], {}).update({k: v for k, v in arrays.items() if k.startswith(prefix)})
    return out


def ship(arrays: dict[str, dict[str, np.ndarray]]) -> None:
    """Make checkpoint arrays from `checkpoint_arrays` available to this process's runs (before the store)."""
    for key, more in arrays.items():
        SHIPPED.setdefault(key, {}).update(more)


def _load_checkpoint(ref: ModelRef):
    from sitegen.finetune import checkpoint_model
    arrays = _parent_arrays(ref)
    _, key, digest = ref.stored
    if _step_sha256(arrays, ref.name, ref.checkpoint) != digest:
        raise ValueError(f"checkpoint {ref.checkpoint} of {key[:12]} changed since its digest was read")
    model = checkpoint_model(ref.name, arrays, ref.checkpoint)
    model.weights, model.weights_sha256 = ref.label, digest
    return model


@cache
def weights_sha256(name: str, weights: str) -> str | None:
    """Return the SHA-256 of a model's ImageNet weights file (None for random weights)."""
    from caricatures.models import MODELS
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    return sha256_file(MODELS[name].weights_file(), remember=True) if weights == "imagenet" else None


@dataclass(frozen=True)
class Run:
    """One unit of work; `settings` are sorted (name, value) pairs of plain JSON values."""

    kind: str
    model: ModelRef
    photos: tuple[str, ...]
    layers: tuple[str, ...]
    steps: int
    settings: tuple[tuple[str, object], ...] = ()

    @property
    def options(self) -> dict:
        return dict(self.settings)

    @property
    def rows(self) -> int:
        """Return how many images the run optimizes."""
        if self.kind == "caricature":
            return len(self.photos) * len(self.layers)
        return self.options.get("batch", 1) if self.kind == "channel" else 0

    @property
    def work(self) -> int:
        """Return the run's caricature-steps (images optimized × steps; a fine-tune: its training images, one
        forward and backward each like a caricature-step); attribution maps count 1."""
        if self.kind == "finetune":
            return self.steps * self.options["batch"]
        return self.rows * self.steps or 1

    def describe(self) -> dict:
        """Return the run as plain JSON (what `--plan`, errors and provenance show)."""
        if self.kind == "finetune":
            return {"kind": self.kind, "model": self.model.name, "steps": self.steps, **self.options}
        return {"kind": self.kind, "model": self.model.name, "weights": self.model.label,
                "photos": list(self.photos), "layers": list(self.layers), "steps": self.steps, **self.options}

    def __str__(self) -> str:
        photos = ", ".join(Path(p).stem for p in self.photos)
        return f"{self.kind} {self.model.name} ({self.model.label}) [{photos}] × [{', '.join(self.layers)}] " \
               f"{self.steps} steps {json.dumps(self.options, sort_keys=True)}"


def _plain(value):
    """Return a setting as a hashable plain value (lists → tuples), rejecting what JSON cannot carry."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):   # frozen as sorted (name, value) pairs; `Run.options` gives them back as pairs
        return tuple((str(k), _plain(v)) for k, v in sorted(value.items()))
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"run setting {value!r} ({type(value).__name__}) is not a plain JSON value")


def make_run(kind: str, model: ModelRef, photos: Iterable[str] = (), layers: Iterable[str] = (), steps: int = 0,
             **settings) -> Run:
    """Return a validated Run: known kind and settings, positive steps for optimizations, photos that exist."""
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}; valid: {', '.join(KINDS)}")
    unknown = set(settings) - KINDS[kind]
    if unknown:
        raise ValueError(f"{kind} run: unknown settings {sorted(unknown)}; valid: {sorted(KINDS[kind])}")
    if kind in ("channel", "finetune"):   # a caricature run's steps are checked with its other settings
        from caricatures.settings import check_steps
        check_steps(steps)
    if model.preprocess is not None and model.preprocess not in PREPROCESS:
        raise ValueError(f"unknown preprocess {model.preprocess!r}; valid: {', '.join(PREPROCESS)}")
    photos, layers = tuple(photos), tuple(layers)
    if kind == "finetune":
        return _finetune_run(model, photos, layers, steps, settings)
    if kind != "channel" and not photos:
        raise ValueError(f"{kind} run: no photos")
    if not layers:
        raise ValueError(f"{kind} run: no layers")
    for p in photos:
        if not (ROOT / p).is_file():
            raise FileNotFoundError(f"{kind} run: photo {p} does not exist (paths are relative to {ROOT})")
    if kind == "caricature":
        caricature_settings(steps, settings)    # raises what a bad make_caricatures call would
        _drop_defaults(settings)
    clean = tuple(sorted((k, _plain(v)) for k, v in settings.items() if v is not None or k == "transforms"))
    return Run(kind, model, photos, layers, steps if kind != "attribution" else 0, clean)


def caricature_settings(steps: int, options: dict):
    """Return the validated `settings.Settings` of a caricature run's steps and settings (as given to
    `caricature`, or read back from `Run.options`); its objective is the attribution objective when the run
    attributes. None leaves a setting at its default, except transforms, where None means none."""
    from caricatures.settings import Settings
    o = {k: v for k, v in options.items() if v is not None or k == "transforms"}
    fields = {k: o[k] for k in ("size", "lr", "seed", "cossim_pow", "param", "transforms", "iterate", "snapshots",
                                "recipe", "init") if k in o}
    if o.get("attribution"):
        fields["attribution"] = parse_target(o["attribution"])
    if "objective" in o:
        fields["attribution_objective" if o.get("attribution") or o.get("iterate") else "objective"] = o["objective"]
    if "objective_args" in o:   # Run.options holds a dict as (name, value) pairs
        args = o["objective_args"]
        fields["objective_args"] = dict(args) if isinstance(args, tuple) else args
    return Settings(steps, **fields)


def _drop_defaults(settings: dict) -> None:
    """Drop the names of a caricature run's defaults (recipe "lucid", objective dot_compare or, attributing,
    attribution_dot, init "noise", no objective_args), so that a run naming them has the key of one that does not."""
    from caricatures.settings import DEFAULT_ATTRIBUTION_OBJECTIVE, DEFAULT_OBJECTIVE
    attributes = settings.get("attribution") or settings.get("iterate")
    default = DEFAULT_ATTRIBUTION_OBJECTIVE if attributes else DEFAULT_OBJECTIVE
    if settings.get("objective") == default and not settings.get("objective_args"):
        del settings["objective"]
    if settings.get("recipe") == "lucid":
        del settings["recipe"]
    if settings.get("init") == "noise":
        del settings["init"]
    if not settings.get("objective_args"):
        settings.pop("objective_args", None)


def _finetune_run(model: ModelRef, photos, layers, steps: int, settings: dict) -> Run:
    from sitegen.datasets import DATASETS, fashion_files
    if photos or layers:
        raise ValueError("finetune run: takes no photos or layers")
    if model.weights != "imagenet" or model.reinit or model.preprocess or model.finetune:
        raise ValueError(f"finetune run: starts from plain ImageNet weights, got {model.label}")
    missing = KINDS["finetune"] - set(settings)
    if missing:
        raise ValueError(f"finetune run: missing settings {sorted(missing)}")
    if settings["dataset"] not in DATASETS:
        raise ValueError(f"finetune run: unknown dataset {settings['dataset']!r}; valid: {', '.join(DATASETS)}")
    if settings["dataset"] == "fashion-mnist":
        fashion_files()     # missing files: a clear error now, naming the path and the fix
    marks = sorted(set(settings["checkpoints"]))
    if not marks or marks[0] < 0 or marks[-1] > steps:
        raise ValueError(f"finetune run: checkpoints {settings['checkpoints']} must lie in 0..{steps}")
    settings["checkpoints"] = marks
    return Run("finetune", model, (), (), steps, tuple(sorted((k, _plain(v)) for k, v in settings.items())))


def finetune(model: str, dataset: str, *, steps: int, batch: int, lr: float, size: int, seed: int,
             checkpoints: Sequence[int], test: int) -> Run:
    """Return the run that fine-tunes ImageNet `model` on `dataset`, keeping `checkpoints` (sitegen/finetune.py)."""
    return make_run("finetune", ModelRef(model), steps=steps, dataset=dataset, batch=batch, lr=lr, size=size,
                    seed=seed, checkpoints=list(checkpoints), test=test)


def caricature(model: ModelRef, photos: Sequence[str], layers: Sequence[str], *, steps: int, **settings) -> Run:
    """Return the run of caricatures of `photos` at `layers`, all optimized jointly in one batch."""
    return make_run("caricature", model, photos, layers, steps, **settings)


def channel(model: ModelRef, layer: str, channel_: int, *, steps: int, **settings) -> Run:
    """Return the run of `batch` feature visualizations of one channel (or neuron, with `position`)."""
    return make_run("channel", model, (), (layer,), steps, channel=channel_, **settings)


def attribution(model: ModelRef, photo: str, layers: Sequence[str], target: str, *, iterate: bool = False,
                size: int | None = None) -> Run:
    """Return the run of a photo's attribution maps at `layers` toward `target` (see `parse_target`)."""
    return make_run("attribution", model, (photo,), layers, 0, target=target, iterate=iterate, size=size)


def parse_target(text: str):
    """Return the attribution Target named by "logit:C", "logit:A-B" (logit A − logit B) or "energy:LAYER"."""
    from caricatures.attribution import layer_energy, logit, logit_diff
    kind, _, arg = text.partition(":")
    if kind == "energy" and arg:
        return layer_energy(arg)
    parts = arg.split("-")
    if kind == "logit" and all(p.isdigit() for p in parts) and len(parts) in (1, 2):
        return logit(int(parts[0])) if len(parts) == 1 else logit_diff(int(parts[0]), int(parts[1]))
    raise ValueError(f"attribution target {text!r}: use 'logit:C', 'logit:A-B' or 'energy:LAYER'")


@dataclass(frozen=True)
class Where:
    """How runs are computed, as far as it moves pixels: device kind, resolved precision, threads per run."""

    device: str = "cpu"
    precision: str = "fp32"
    threads: int = 1

    def describe(self) -> dict:
        # On a GPU the thread count does not reach the arithmetic; on the CPU it sets the row groups.
        return {"device": self.device, "precision": self.precision,
                **({"threads": self.threads} if self.device == "cpu" else {})}


def resolve_where(device: str = "auto", precision: str = "auto", threads: int = 1) -> Where:
    """Return the Where of this machine: "auto" device is CUDA when present; "auto" precision resolved for it."""
    from caricatures.prepare import default_device, resolve_precision
    device = default_device() if device == "auto" else device
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda")
    if threads < 1:
        raise ValueError(f"threads per run must be at least 1, got {threads}")
    return Where(kind, resolve_precision(precision, kind), threads)


def run_key(run: Run, where: Where, store=None) -> str:
    """Return the hex key of a run's result: engine version, weights and photo digests, every setting, where.
    A run on a fine-tuned checkpoint needs `store` (a RunStore) holding its parent's result: see `resolve`."""
    if store is not None:
        run = resolve(run, where, store)
    blob = {"engine": caricatures.ENGINE_VERSION, "kind": run.kind, "model": run.model.describe(),
            "photos": [[p, photo_sha256(p)] for p in run.photos], "layers": list(run.layers), "steps": run.steps,
            "settings": run.options, "where": where.describe()}
    if run.options.get("param") == "maco":   # its fixed magnitude is the mean spectrum of every credited photo
        from caricatures.param import natural_photos
        blob["magnitude_photos"] = [photo_sha256(f"images/{p}") for p in natural_photos()]
    if run.kind == "finetune":
        from sitegen.datasets import dataset_digest
        blob["data"] = dataset_digest(run.options["dataset"])
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def photo_sha256(path: str) -> str:
    """Return the SHA-256 of a photo under the repository (cached by size and mtime)."""
    return sha256_file(ROOT / path, remember=True)


Progress = Callable[[int], None]   # called with the caricature-steps done so far


def execute(run: Run, where: Where, progress: Progress | None = None, groups: Sequence[int] | None = None
            ) -> tuple[dict[str, np.ndarray], dict]:
    """Compute a run; return its arrays and its provenance (host, node, device, precision, threads, seconds).
    `groups`: for a caricature run that packs several runs' photos (see `execute_pack`)."""
    import torch
    if where.device == "cpu":
        torch.set_num_threads(where.threads)
    t0 = time.perf_counter()
    arrays = (_caricatures(run, where, progress, groups) if groups else _KIND_FNS[run.kind](run, where, progress))
    prov = {"host": socket.gethostname(), "node": _node_id(), "pid": os.getpid(), **where.describe(),
            "device_name": _device_name(where.device), "seconds": round(time.perf_counter() - t0, 3),
            "malloc_tuned": all(k in os.environ for k in MALLOC_ENV),
            "engine_version": caricatures.ENGINE_VERSION, "torch": torch.__version__}
    return arrays, prov


def _node_id() -> str | None:
    try:
        import ray
        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except ImportError:
        return None


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch
        return torch.cuda.get_device_name()
    return cpu_name()


@cache
def cpu_name() -> str:
    """Return the processor's model name (what `lscpu` calls it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _callback(run: Run, progress: Progress | None):
    if progress is None:
        return None
    return lambda step, _steps, _value: progress(step * run.rows)


def _caricatures(run: Run, where: Where, progress: Progress | None, groups: Sequence[int] | None = None
                 ) -> dict[str, np.ndarray]:
    from caricatures.images import load_photo
    from caricatures.make import make_caricatures
    o, model = run.options, run.model.load()
    size = o.get("size") or model.input_size
    result = make_caricatures(model, [load_photo(ROOT / p, size) for p in run.photos], list(run.layers),
                              caricature_settings(run.steps, o), device=where.device, precision=where.precision,
                              progress=_callback(run, progress), groups=groups)
    out = {"images": to_uint8(result.images), "original": to_uint8(result.originals),
           "history": result.history.astype(np.float32)}
    for name in ("cosine", "gain", "objective"):
        out[name] = np.array([[m[name] for m in row] for row in result.metrics], dtype=np.float64)
    if result.snapshots:
        steps = sorted(result.snapshots)
        out["snapshot_steps"] = np.array(steps)
        out["snapshots"] = np.stack([to_uint8(result.snapshots[s]) for s in steps])
    if result.attributions:   # maps differ in size across layers: one array per layer
        for i, name in enumerate(run.layers):
            out[f"attribution_map_{i}"] = result.attributions[name].astype(np.float32)
    return out


def _finetune(run: Run, where: Where, progress: Progress | None) -> dict[str, np.ndarray]:
    from sitegen.finetune import finetune as train
    o = run.options
    return train(run.model.name, o["dataset"], steps=run.steps, batch=o["batch"], lr=o["lr"], size=o["size"],
                 seed=o["seed"], checkpoints=o["checkpoints"], test=o["test"], progress=progress,
                 device=where.device)


def _channel(run: Run, where: Where, progress: Progress | None) -> dict[str, np.ndarray]:
    from caricatures.make import visualize_channel
    o, model = dict(run.options), run.model.load()
    channel_ = o.pop("channel")
    if "position" in o:
        o["position"] = tuple(o["position"])
    result = visualize_channel(model, run.layers[0], channel_, steps=run.steps, device=where.device,
                               precision=where.precision, progress=_callback(run, progress), **o)
    return {"images": to_uint8(result.images), "objective": np.array(result.objective, dtype=np.float64)}


def _attribution(run: Run, where: Where, progress: Progress | None) -> dict[str, np.ndarray]:
    from caricatures.attribution import attribute, attribution_map, iterated_attribution
    from caricatures.images import load_photo
    from caricatures.prepare import prepare_model
    o, model = run.options, run.model.load()
    image = load_photo(ROOT / run.photos[0], o.get("size") or model.input_size)
    exact = prepare_model(model, where.device, "fp32")
    target = parse_target(o["target"])
    attrs = (iterated_attribution(exact, image.to(where.device), run.layers, target) if o.get("iterate")
             else attribute(exact, image.to(where.device), run.layers, target))
    return {n: attribution_map(attrs[n]).cpu().numpy().astype(np.float32) for n in run.layers}


_KIND_FNS = {"caricature": _caricatures, "channel": _channel, "attribution": _attribution, "finetune": _finetune}


def pack_key(run: Run) -> tuple | None:
    """Return what runs must share to be optimized in one batch (None: the run is never packed)."""
    return (run.model, run.layers, run.steps, run.settings) if run.kind == "caricature" else None


def execute_pack(runs: Sequence[Run], where: Where, progress: Progress | None = None
                 ) -> list[tuple[dict[str, np.ndarray], dict]]:
    """Compute caricature runs that share model, layers, steps and settings as one batch of all their photos;
    return each run's arrays and provenance, as `execute` would (each run's random start is its own)."""
    if len(runs) == 1:
        return [execute(runs[0], where, progress)]
    if len({pack_key(r) for r in runs}) != 1 or pack_key(runs[0]) is None:
        raise ValueError("only caricature runs of the same model, layers, steps and settings can be packed")
    first = runs[0]
    packed = Run(first.kind, first.model, tuple(p for r in runs for p in r.photos), first.layers, first.steps,
                 first.settings)
    arrays, prov = execute(packed, where, progress, groups=[len(r.photos) for r in runs])
    out, start = [], 0
    for r in runs:
        part = slice(start, start + len(r.photos))
        start += len(r.photos)
        out.append(({k: _photo_part(k, v, part) for k, v in arrays.items()}, {**prov, "packed_runs": len(runs)}))
    return out


def _photo_part(name: str, array: np.ndarray, part: slice) -> np.ndarray:
    """Return the photos `part` of one array of a caricature run (the photo axis is 1 for the per-step ones)."""
    if name == "snapshot_steps":
        return array
    return array[:, part] if name in ("history", "snapshots") else array[part]


def photo_view(arrays: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Return photo i's slice of a caricature run: images (L, S, S, 3), original, cosine/gain/objective (L,),
    history (steps, L), snapshots (K, L, S, S, 3) and attribution_map_<l> (H, W) when present."""
    out = {k: arrays[k][i] for k in ("images", "original", "cosine", "gain", "objective")}
    out["history"] = arrays["history"][:, i]
    if "snapshots" in arrays:
        out["snapshots"], out["snapshot_steps"] = arrays["snapshots"][:, i], arrays["snapshot_steps"]
    out.update({k: v[i] for k, v in arrays.items() if k.startswith("attribution_map_")})
    return out
