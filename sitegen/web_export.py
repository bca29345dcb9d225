"""What the in-browser caricature (assets/js/tryit/) computes with: a model's weights and photos, as scripts.

A page opened from file:// cannot fetch() the files beside it, but a <script src> loads anywhere, so every
payload is a script that stores one JSON object in `window.CaricaturesPayload[<its path in the site>]`.

Weights: BatchNorm folded into the convs (`fold_batchnorm`), rounded to float16 (half the bytes; stage-end
activations move by about 0.5 %), in TensorFlow's filter layouts: conv (kh, kw, in, out), depthwise
(kh, kw, channels, 1). Part k holds the stages after the (k−1)-th stage end up to the k-th, so a reader who
picks an early layer loads only the first parts. Each part describes its stages (convs, strides, ReLU6,
residual), so the page needs no copy of the architecture.

    model_scripts(load_model("efficientnet_lite0"))   # {"models/efficientnet_lite0/part-0.js": text, …}
    cached_export("efficientnet_lite0", Path(".cache"))  # the same files, made once per weights and exporter
"""
from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from caricatures.files import sha256_bytes, sha256_file, write_dir
from caricatures.models import MODELS, fold_batchnorm, load_model
from caricatures.models.base import Model
from caricatures.models.common import ConvBNAct
from caricatures.models.efficientnet_lite import MBConv

FORMAT = 1
GLOBAL = "CaricaturesPayload"


def part_file(model_name: str, part: int) -> str:
    """Return the site path of one weights part, e.g. "models/efficientnet_lite0/part-3.js"."""
    return f"models/{model_name}/part-{part}.js"


def photo_file(fig_id: str, key: str) -> str:
    """Return the site path of the script holding one photo of a figure."""
    return f"figures/{fig_id}/photo-{key}.js"


def parts(model: Model) -> list[list[int]]:
    """Return the stage indices of each part: part k ends with the stage of the k-th stage end."""
    ends = [model.layer(name).stage for name in model.meta["stage_ends"]]
    return [list(range(a + 1, b + 1)) for a, b in zip([-1, *ends], ends)]


def rounded(model: Model) -> Model:
    """Return the model the page computes with: BatchNorm folded, weights and biases rounded to float16."""
    folded = fold_batchnorm(model)
    with torch.no_grad():
        for m in folded.stages.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(m.weight.half().float())
                m.bias.copy_(m.bias.half().float())
    return folded


def _convs(stage: nn.Module) -> tuple[list[tuple[nn.Conv2d, bool]], bool]:
    """Return a stage's (conv, followed by ReLU6) in order and whether its input is added to its output."""
    if isinstance(stage, ConvBNAct):
        return [(stage.conv, True)], False
    if isinstance(stage, MBConv):
        convs = [(stage._expand_conv, True)] if hasattr(stage, "_expand_conv") else []
        return convs + [(stage._depthwise_conv, True), (stage._project_conv, False)], stage.residual
    raise TypeError(f"cannot export a stage of type {type(stage).__name__} (only EfficientNet-Lite stages)")


def _filter(conv: nn.Conv2d) -> tuple[np.ndarray, bool]:
    w = conv.weight.detach().float()
    depthwise = conv.groups > 1
    if depthwise and not conv.groups == conv.in_channels == conv.out_channels:
        raise TypeError(f"cannot export a grouped conv with {conv.groups} groups")
    return (w.permute(2, 3, 0, 1) if depthwise else w.permute(2, 3, 1, 0)).numpy(), depthwise


def part_payload(model: Model, part: int) -> dict:
    """Return one part's payload: its stages, a table of tensors [shape, offset] and their float16 bytes."""
    tensors, chunks, offset, stages = [], [], 0, []

    def add(a: np.ndarray) -> int:
        nonlocal offset
        tensors.append([list(a.shape), offset])
        chunks.append(np.ascontiguousarray(a, dtype="<f2").tobytes())
        offset += a.size
        return len(tensors) - 1

    names = {lay.stage: lay.name for lay in model.layers.values() if lay.module is None}
    for i in parts(model)[part]:
        convs, residual = _convs(model.stages[i])
        desc = []
        for conv, relu6 in convs:
            w, depthwise = _filter(conv)
            desc.append({"w": add(w), "b": add(conv.bias.detach().float().numpy()), "depthwise": depthwise,
                         "stride": conv.stride[0], "relu6": relu6})
        stages.append({"name": names[i], "convs": desc, "residual": residual})
    zero, one = (float(model.preprocess(torch.tensor(v))) for v in (0.0, 1.0))
    return {"format": FORMAT, "model": model.name, "part": part, "parts": len(parts(model)),
            "weights_sha256": model.weights_sha256, "dtype": "float16", "preprocess": [one - zero, zero],
            "stage_ends": model.meta["stage_ends"], "stages": stages, "tensors": tensors,
            "data": base64.b64encode(b"".join(chunks)).decode("ascii")}


def script(path: str, payload: dict, what: str) -> str:
    """Return the text of a payload script stored under `path`."""
    return (f"/* {what}; generated by sitegen/web_export.py, do not edit. */\n"
            f"(window.{GLOBAL} = window.{GLOBAL} || {{}})[{json.dumps(path)}] = {json.dumps(payload)};\n")


def read_script(text: str) -> dict:
    """Return the payload of a script written by `script`."""
    return json.loads(text.split("] = ", 1)[1].rstrip().rstrip(";"))


def decode(payload: dict) -> list[np.ndarray]:
    """Return a weights payload's tensors as float32 arrays."""
    data = np.frombuffer(base64.b64decode(payload["data"]), dtype="<f2")
    return [data[o:o + int(np.prod(s))].reshape(s).astype(np.float32) for s, o in payload["tensors"]]


def model_scripts(model: Model) -> dict[str, str]:
    """Return {site path: script text} for every weights part of a model (BatchNorm folded, float16)."""
    exported = rounded(model)
    n = len(parts(model))
    return {part_file(model.name, k): script(part_file(model.name, k), part_payload(exported, k),
                                             f"{model.name} weights, part {k + 1} of {n}")
            for k in range(n)}


def photo_script(fig_id: str, key: str, photo: Path, size: int) -> str:
    """Return the script holding a photo as a size×size JPEG data URL (short side resized, centre crop)."""
    from caricatures.images import load_photo

    x = load_photo(photo, size).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray((x * 255 + 0.5).clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=92)
    url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    path = photo_file(fig_id, key)
    return script(path, {"size": size, "url": url}, f"photo {key} of figure {fig_id} at {size} px")


def export_key(model_name: str) -> str:
    """Return what decides an export's bytes: the format, the weights' digest and this exporter's source."""
    blob = {"format": FORMAT, "weights": sha256_file(MODELS[model_name].weights_file(), remember=True),
            "exporter": sha256_file(Path(__file__))}
    return sha256_bytes(json.dumps(blob, sort_keys=True).encode())


def _complete(folder: Path) -> bool:
    try:
        files = json.loads((folder / "MANIFEST.json").read_text())
        return all(sha256_file(folder / n) == h for n, h in files.items())
    except (OSError, ValueError, AttributeError):
        return False


def cached_export(model_name: str, cache: Path) -> tuple[Path, bool]:
    """Return (folder holding the model's part-*.js, whether it was exported now) for the cache `cache`.

    The folder is written under a temporary name and renamed into place; a folder whose files do not match
    its MANIFEST.json is exported again. Older exports of the model are removed.
    """
    root = cache / "exports"
    final = root / f"{model_name}-{export_key(model_name)[:20]}"
    if _complete(final):
        return final, False
    def fill(tmp: Path) -> None:
        manifest = {}
        for path, text in model_scripts(load_model(model_name)).items():
            name = Path(path).name
            (tmp / name).write_text(text, encoding="ascii")
            manifest[name] = sha256_bytes(text.encode("ascii"))
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))

    write_dir(final, fill)
    for old in root.glob(f"{model_name}-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final, True
