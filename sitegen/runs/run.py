"""A run, the unit of work: a frozen, validated request for one optimization (or attribution), and its key.

    run = caricature(ModelRef("efficientnet_lite0"), ["images/animals/panda.jpg"], ["block2"], steps=128, size=128)
    where = Where("cpu", "fp32", threads=1)        # how it is computed: part of the key, since it moves pixels
    key = run_key(run, where)                       # engine, weights and photo digests, every setting

Kinds: "caricature" (photos × layers, optimized jointly as lucid's recipe does), "channel" (feature
visualizations of one channel), "attribution" (attribution maps, no optimization) and "finetune" (a model trained
on another data set, with checkpoints; see sitegen/finetune.py). Executing a run: sitegen/runs/execute.py; runs
on a fine-tuned checkpoint (whose key needs the parent's stored result): sitegen/runs/checkpoints.py.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import caricatures
from caricatures.files import sha256_file
from sitegen import ROOT

KINDS = {  # kind → the settings it takes (validated once, when the run is made). A caricature run takes the
    # fields of caricatures.settings.Settings but steps (its own) and attribution_objective (its objective):
    # tests/test_settings.py holds the two equal, since importing Settings here would load torch.
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
    from caricatures.models import MODELS  # the zoo's own preprocessing, under the name of what it does
    return {"x255": _x255, "imagenet-mean-std": MODELS["mobilenet_v2"].preprocess,
            "lite-255x-127": MODELS["efficientnet_lite0"].preprocess}


PREPROCESS = ("x255", "imagenet-mean-std", "lite-255x-127")   # names a ModelRef may use


@cache
def _load(ref: ModelRef):
    from caricatures.models import load_model
    from sitegen.runs.checkpoints import _load_checkpoint
    if ref.finetune is not None:
        return _load_checkpoint(ref)
    model = load_model(ref.name, weights=ref.weights, seed=ref.seed, reinit=ref.reinit)
    if ref.preprocess:
        model = dataclasses.replace(model, preprocess=_preprocess_table()[ref.preprocess],
                                    weights=f"{model.weights}+preprocess:{ref.preprocess}")
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


def _freeze(value):
    """Return a setting as a hashable plain value (lists → tuples), rejecting what JSON cannot carry."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):   # frozen as sorted (name, value) pairs; `Run.options` gives them back as pairs
        return tuple((str(k), _freeze(v)) for k, v in sorted(value.items()))
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
    clean = tuple(sorted((k, _freeze(v)) for k, v in settings.items() if v is not None or k == "transforms"))
    return Run(kind, model, photos, layers, steps if kind != "attribution" else 0, clean)


def caricature_settings(steps: int, options: dict):
    """Return the validated `settings.Settings` of a caricature run's steps and settings (as given to
    `caricature`, or read back from `Run.options`); its objective is the attribution objective when the run
    attributes. None leaves a setting at its default, except transforms, where None means none."""
    from caricatures.settings import Settings
    o = {k: v for k, v in options.items() if v is not None or k == "transforms"}
    fields = {k: o[k] for k in sorted(KINDS["caricature"] - {"attribution", "objective", "objective_args"}) if k in o}
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
    return Run("finetune", model, (), (), steps, tuple(sorted((k, _freeze(v)) for k, v in settings.items())))


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
        from sitegen.runs.checkpoints import resolve
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


def pack_key(run: Run) -> tuple | None:
    """Return what runs must share to be optimized in one batch (None: the run is never packed)."""
    return (run.model, run.layers, run.steps, run.settings) if run.kind == "caricature" else None
