"""Command line: `python -m caricatures caricature PHOTO …` writes PNGs and index.json; `… models` lists models.

    python -m caricatures caricature images/objects/coffee.jpg --layers stages --steps 512 --out out/coffee
    python -m caricatures models

Bad input prints one line naming the problem on stderr and exits with status 2; the output directory is
written to a temporary directory beside it and renamed into place only when everything succeeded.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from caricatures.files import to_uint8, write_json

USAGE_ERROR, RUN_ERROR = 2, 1
INTERRUPTED = 130  # what a shell reports for a command ended by Ctrl-C


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(message)


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="efficientnet_lite0", help="a built-in model (see `caricatures models`), "
                   "or your own: path/to/file.py:factory or package.module:factory, where factory() returns a "
                   "torch.nn.Module (or (module, preprocess)) (default: %(default)s)")
    p.add_argument("--weights", default=None, help="built-in models: imagenet (default) or random; your own "
                   "module: required, 'random' or a state-dict file (it must fit key for key)")
    p.add_argument("--size", type=int, default=None, help="image size in pixels (default: the model's input "
                   "size, for your own module its pretrained_cfg's or 224); smaller is faster")
    p.add_argument("--mean", default=None, metavar="R,G,B", help="your own module: preprocessing mean for "
                   "images in [0, 1] (default: the factory's preprocess, the module's pretrained_cfg, else "
                   "ImageNet's 0.485,0.456,0.406)")
    p.add_argument("--std", default=None, metavar="R,G,B", help="your own module: preprocessing std (default "
                   "as --mean; ImageNet's 0.229,0.224,0.225)")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand; option defaults come from `Settings`."""
    from caricatures.settings import Settings
    d = Settings()
    p = Parser(prog="caricatures", description="Caricatures of photos at layers of vision networks.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("models", help="list the built-in models and their layer names",
                   description="List each built-in model with its input size and its layers (name, channels, "
                               "size).")
    ls = sub.add_parser("layers", help="list a model's layers with their activation shapes",
                        description="List the layers of a built-in model or of your own module (its dotted "
                                    "submodule names, in the order the forward pass reaches them) with one "
                                    "image's activation shape at the input size.")
    _model_options(ls)
    c = sub.add_parser("caricature", help="make caricatures of a photo at several layers",
                       description="Optimize one caricature per layer (lucid's recipe: FFT image, standard "
                                   "transforms, Adam; see docs/RECIPE.md for where this engine differs from "
                                   "lucid's code) and write one PNG per layer plus DIR/index.json.")
    c.add_argument("photo", type=Path, help="photo file (JPEG, PNG, …); resized and centre-cropped to --size")
    c.add_argument("--out", type=Path, required=True, help="output directory (replaced if it holds an "
                   "earlier run's index.json; a non-empty directory without one is refused)")
    _model_options(c)
    c.add_argument("--layers", default="stages", help="comma-separated layer names (see `caricatures layers`), "
                   "or 'stages' (built-in: the last block of each stage; your own module: its top-level "
                   "children), 'blocks' (built-in: stem, every block, head) or 'all' (default: %(default)s)")
    c.add_argument("--steps", type=int, default=d.steps, help="optimization steps (default: %(default)s)")
    c.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default: %(default)s)")
    c.add_argument("--cossim-pow", type=float, default=d.cossim_pow, help="power of the cosine factor in lucid's "
                   "dot_compare (with --attribution: of the true cosine to the photo's activation); higher stays closer "
                   "to the photo's direction (default: %(default)s)")
    c.add_argument("--seed", type=int, default=d.seed, help="seed of the image initialization and the random "
                   "transforms; same seed, same pixels (default: %(default)s)")
    c.add_argument("--attribution", default=None, metavar="CLASS|LAYER", help="make attribution "
                   "caricatures toward an ImageNet class (index or name, e.g. 967 or espresso) or a later "
                   "layer's energy Σ A² (a layer name)")
    c.add_argument("--versus", default=None, metavar="CLASS", help="with a class --attribution, attribute "
                   "the logit difference CLASS_A − CLASS (what makes it A rather than this)")
    c.add_argument("--iterate", default=None, metavar="START:END", help="iterated attribution from layer "
                   "START down to layer END over the selected --layers between them (start objective: "
                   "--attribution, or Σ A² of START)")
    c.add_argument("--recipe", default=d.recipe, metavar="NAME", help="optimization schedule: 'lucid' (Adam at "
                   "--lr for every step, as lucid's caricature recipe; the engine's four differences from "
                   "lucid's code are in docs/RECIPE.md) or a candidate of caricatures/schedule.py, e.g. 'rows' "
                   "(a learning rate per layer) (default: %(default)s)")
    c.add_argument("--param", choices=("fft", "pixel"), default=d.param, help="image parametrization "
                   "(default: %(default)s)")
    c.add_argument("--transforms", choices=("standard", "notebook", "none"), default=d.transforms,
                   help="random transforms each step (default: lucid's %(default)s)")
    c.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    c.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="arithmetic of the optimization (default: bf16 where the hardware has it; lucid "
                        "computes in fp32)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _rgb(text: str | None, option: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise UsageError(f"{option} {text!r}: give three comma-separated numbers, e.g. 0.485,0.456,0.406")
    return values


def load_cli_model(args):
    """The model --model names, with --weights, --size (as its input size), --mean and --std."""
    from caricatures.models import list_models, load_model
    from caricatures.models.adapter import adapt
    from caricatures.models.user import is_factory_spec, load_factory, load_weights
    mean, std = _rgb(args.mean, "--mean"), _rgb(args.std, "--std")
    if not is_factory_spec(args.model):
        if args.model not in list_models():
            raise UsageError(f"unknown model {args.model!r}; valid: {', '.join(list_models())}, or "
                             "path/to/file.py:factory for your own module")
        if mean is not None or std is not None:
            raise UsageError(f"--mean/--std are for your own module; {args.model} has its own preprocessing")
        return load_model(args.model, weights=args.weights or "imagenet")
    if args.weights is None:
        raise UsageError(f"--model {args.model}: give --weights random or --weights FILE (a state dict), so "
                         "that a random network is never used by accident")
    net, preprocess = load_factory(args.model)
    label = load_weights(net, args.weights)
    if preprocess is not None and (mean is not None or std is not None):
        raise UsageError(f"--model {args.model}: its factory names a preprocessing; drop --mean/--std")
    name = args.model.rpartition(":")[2]
    return adapt(net, name=name, input_size=args.size, preprocess=preprocess, mean=mean, std=std, weights=label)


def run_layers(args) -> int:
    from caricatures.api import layer_table
    print(layer_table(load_cli_model(args), preprocessing=True))
    return 0


def list_models_text() -> str:
    """Return the text of `python -m caricatures models`."""
    from caricatures.models import list_models, load_model
    lines = []
    for name in list_models():
        m = load_model(name, weights="random")
        lines.append(f"{name}  ({m.input_size} px, stage ends: {', '.join(m.meta['stage_ends'])})")
        lines += [f"  {lay.name:<16} {lay.title}" for lay in m.layers.values()]
    return "\n".join(lines)


def select_layers(model, spec: str) -> list[str]:
    """Resolve --layers (names, 'stages', 'blocks' or 'all') against the model."""
    if spec == "all":
        return list(model.layers)
    if spec == "stages":
        return list(model.meta["stage_ends"])
    if spec == "blocks":
        return [n for n, lay in model.layers.items() if lay.kind in ("stem", "block", "head")] or list(
            model.meta["stage_ends"])
    from caricatures.models.base import unknown_layer
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--layers {spec!r} names no layer; see `caricatures layers --model {model.name}`")
    bad = [n for n in names if n not in model.layers]
    if bad:
        raise UsageError(unknown_layer(bad[0], model))
    return list(dict.fromkeys(names))


def parse_class(value: str) -> int:
    """Resolve a class index or (case-insensitive) ImageNet class name to an index."""
    from caricatures.images import imagenet_classes
    names = imagenet_classes()
    if value.isdigit():
        if int(value) < len(names):
            return int(value)
        raise UsageError(f"--attribution class index {value} out of range 0–{len(names) - 1}")
    lowered = [n.lower() for n in names]
    if value.lower() in lowered:
        return lowered.index(value.lower())
    hits = [i for i, n in enumerate(lowered) if value.lower() in n]
    if len(hits) == 1:
        return hits[0]
    hint = f"; it matches {', '.join(names[i] for i in hits[:5])}" if hits else ""
    raise UsageError(f"--attribution {value!r} is neither a layer nor a single ImageNet class{hint}")


def resolve_attribution(model, args, layers: list[str]):
    """Return (target or None, iterate flag, caricature layers) from --attribution/--versus/--iterate."""
    from caricatures.attribution import layer_energy, logit, logit_diff
    target = None
    if args.attribution is not None:
        if args.attribution in model.layers:
            if args.versus is not None:
                raise UsageError("--versus needs a class --attribution, not a layer")
            target = layer_energy(args.attribution)
        else:
            a = parse_class(args.attribution)
            target = logit(a) if args.versus is None else logit_diff(a, parse_class(args.versus))
    elif args.versus is not None:
        raise UsageError("--versus needs --attribution CLASS")
    if args.iterate is None:
        if target is not None and target.layer is not None:
            order = list(model.layers)
            late = [n for n in layers if order.index(n) > order.index(target.layer)]
            if late:
                raise UsageError(f"layer {late[0]} comes after the attribution layer {target.layer}; "
                                 "choose layers at or before it")
        return target, False, layers
    start, sep, end = args.iterate.partition(":")
    order = list(model.layers)
    if not sep or start not in model.layers or end not in model.layers:
        raise UsageError(f"--iterate {args.iterate!r} must be START:END with two layer names of {model.name}")
    hi, lo = order.index(start), order.index(end)
    if lo > hi:
        raise UsageError(f"--iterate {args.iterate}: START must be the deeper layer (e.g. block15:block2)")
    chosen = {start, end, *[n for n in layers if lo <= order.index(n) <= hi]}
    return target, True, [n for n in order if n in chosen]


def check_out(out: Path) -> None:
    """Refuse an output path that is a file or a non-empty directory holding something other than a run."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory path")
    if out.is_dir() and any(out.iterdir()) and not (out / "index.json").is_file():
        raise UsageError(f"--out {out} is a non-empty directory without index.json; choose an empty or new one")


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a (H, W, 3) float image in [0, 1] as an 8-bit PNG."""
    from PIL import Image
    Image.fromarray(to_uint8(image)).save(path)


def write_run(out: Path, result, model, photo: Path, argv: list[str]) -> None:
    """Write PNGs and index.json into a temporary directory beside `out`, then move it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_png(tmp / "original.png", result.originals[0])
        entries = []
        for i, name in enumerate(result.layers):
            file = f"{i:02d}_{name}.png"
            write_png(tmp / file, result.images[0, i])
            m = result.metrics[0][i]
            entries.append({"name": name, "title": model.label(name, result.settings["size"]),
                            "file": file,
                            "cosine": round(m["cosine"], 6), "gain": round(m["gain"], 6),
                            "objective": m["objective"]})
        s = result.settings
        index = {"model": s["model"], "recipe": s["recipe"], "steps": s["steps"], "seed": s["seed"], "photo": str(photo),
                 "original": "original.png", "size": s["size"], "layers": entries, "settings": s,
                 "command": "caricatures " + " ".join(argv)}
        write_json(tmp / "index.json", index, default=str)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_caricature(args, argv: list[str]) -> int:
    """Validate everything, run the optimization, then write the output directory."""
    import torch

    from caricatures.images import PhotoError, load_photo
    from caricatures.make import make_caricatures
    from caricatures.prepare import bf16_supported, default_device
    from caricatures.settings import Settings
    try:
        Settings(steps=args.steps, lr=args.lr, size=args.size, seed=args.seed, cossim_pow=args.cossim_pow,
                 param=args.param, recipe=args.recipe)
    except (ValueError, TypeError) as e:   # Settings names the field first, as the option is named
        message = str(e).replace("steps must be a positive int,", "steps must be a positive integer,")
        field = message.split(" ")[0]
        raise UsageError(f"--{field.replace('_', '-')}{message[len(field):]}" if field in (
            "steps", "lr", "size", "seed", "cossim_pow", "param") else message) from None
    if args.device not in (None, "cpu", "cuda") and not str(args.device).startswith("cuda:"):
        raise UsageError(f"--device must be cpu or cuda, got {args.device!r}")
    if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available here; use --device cpu")
    if args.precision == "bf16" and not bf16_supported(args.device or default_device()):
        raise UsageError("--precision bf16: this device has no native bf16 (it would run many times slower); "
                         "use --precision auto or fp32")
    check_out(args.out)
    model = load_cli_model(args)
    size = args.size or model.input_size
    try:
        photo = load_photo(args.photo, size)
    except PhotoError as e:
        raise UsageError(str(e)) from None
    layers = select_layers(model, args.layers)
    target, iterate, layers = resolve_attribution(model, args, layers)
    bars = []

    def progress(step: int, total: int, value: float) -> None:
        if not bars:  # created at the first step, so errors before the run print one line only
            from tqdm import tqdm
            bars.append(tqdm(total=total, desc=f"{len(layers)} caricatures", unit="step", file=sys.stderr))
        bars[0].update(1)
        bars[0].set_postfix(objective=f"{value:.4g}", refresh=False)
    try:
        result = make_caricatures(model, photo, layers, steps=args.steps, cossim_pow=args.cossim_pow,
                                  seed=args.seed, lr=args.lr, param=args.param, recipe=args.recipe,
                                  transforms=None if args.transforms == "none" else args.transforms,
                                  attribution=target, iterate=iterate, size=size, device=args.device,
                                  precision=args.precision, progress=None if args.quiet else progress)
    finally:
        for bar in bars:
            bar.close()
    write_run(args.out, result, model, args.photo, argv)
    print(f"wrote {len(layers)} caricatures to {args.out}/ ({result.settings['seconds']:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "models":
            print(list_models_text())
            return 0
        if args.command == "layers":
            return run_layers(args)
        return run_caricature(args, argv)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return USAGE_ERROR
    except (ValueError, KeyError) as e:  # the engine's own argument checks
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return USAGE_ERROR
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return RUN_ERROR
    except KeyboardInterrupt:
        print("interrupted; no new results written", file=sys.stderr)
        return INTERRUPTED
