"""Any `torch.nn.Module` as a `Model`: its layers are its own dotted submodule names.

    model = adapt(my_net, input_size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    model.layers            # "features.3", "features.3.conv.1", … in the order the forward pass reaches them

One forward pass at the input size finds the layers: every submodule that runs once and returns a tensor,
with its activation shape, (C, H, W) for a feature map or (N, C) for a transformer's tokens. A module that
runs more than once per forward (a shared activation, say) has no single output and is not a layer. An
`nn.Sequential` is split into its children, so the forward pass can drop finished rows between them;
anything else is one stage, which the forward pass leaves right after the deepest requested layer.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from caricatures.models.base import Layer, Model

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DEFAULT_SIZE = 224


@dataclass(frozen=True)
class Normalize:
    """Preprocessing (x − mean) / std per channel, for images in [0, 1]."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


def _config(module: nn.Module) -> dict:
    """timm's `pretrained_cfg` (or the older `default_cfg`) when the module has one."""
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None)
    return dict(cfg) if isinstance(cfg, dict) else {}


def _three(values: Sequence[float], what: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in values)
    if len(values) != 3:
        raise ValueError(f"{what} needs three values (R, G, B), got {len(values)}")
    return values


def choose_preprocess(module: nn.Module, preprocess: Callable | None, mean, std) -> tuple[Callable, str]:
    """Return the preprocessing and where it came from: the callable given, the mean/std given, timm's
    `pretrained_cfg`, or else ImageNet's mean and std (said so in the returned note)."""
    if preprocess is not None:
        if mean is not None or std is not None:
            raise ValueError("give preprocess or mean/std, not both")
        return preprocess, f"given: {getattr(preprocess, '__name__', type(preprocess).__name__)}"
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (three values each), or neither")
    if mean is not None:
        norm = Normalize(_three(mean, "mean"), _three(std, "std"))
        return norm, f"given: mean {norm.mean}, std {norm.std}"
    cfg = _config(module)
    if "mean" in cfg and "std" in cfg:
        norm = Normalize(_three(cfg["mean"], "pretrained_cfg mean"), _three(cfg["std"], "pretrained_cfg std"))
        return norm, f"pretrained_cfg: mean {norm.mean}, std {norm.std}"
    return Normalize(IMAGENET_MEAN, IMAGENET_STD), ("default: ImageNet mean (0.485, 0.456, 0.406), std "
                                                    "(0.229, 0.224, 0.225); none given and no pretrained_cfg")


def choose_size(module: nn.Module, input_size: int | None) -> tuple[int, str]:
    """Return the input side and where it came from: given, timm's `pretrained_cfg`, or 224."""
    if input_size is not None:
        if not isinstance(input_size, int) or input_size < 8:
            raise ValueError(f"input_size must be an int of at least 8 pixels, got {input_size!r}")
        return input_size, "given"
    size = _config(module).get("input_size")
    if size:
        if size[-1] != size[-2]:
            raise ValueError(f"pretrained_cfg input_size {tuple(size)} is not square; give input_size")
        return int(size[-1]), "pretrained_cfg"
    return DEFAULT_SIZE, f"default {DEFAULT_SIZE} (none given, no pretrained_cfg)"


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of the module's state dict (names, shapes, dtypes and values), for provenance."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _stages(module: nn.Module) -> tuple[nn.ModuleList, list[str]]:
    """The stages the forward pass runs one after another, and each stage's name within `module`."""
    if isinstance(module, nn.Sequential) and len(module):
        names = [name for name, _ in module.named_children()]
        return nn.ModuleList(list(module.children())), names
    return nn.ModuleList([module]), [""]


def trace(stages: nn.ModuleList, prefixes: list[str], preprocess: Callable, size: int
          ) -> tuple[list[tuple[str, int, str | None, tuple[int, ...]]], tuple[int, ...]]:
    """Run one zero image through the stages; return the layers in the order they finish, as (name, stage,
    path inside the stage or None for its output, activation shape), and the network's output shape."""
    finished: list[tuple[str, int, str, tuple[int, ...]]] = []
    calls: dict[tuple[int, str], int] = {}
    handles = []

    def record(i: int, path: str, out) -> None:
        calls[i, path] = calls.get((i, path), 0) + 1
        if isinstance(out, torch.Tensor) and out.dim() >= 2:
            finished.append((i, path, tuple(out.shape[1:])))

    for i, stage in enumerate(stages):
        for path, sub in stage.named_modules():
            if path:
                handles.append(sub.register_forward_hook(lambda _m, _a, out, i=i, p=path: record(i, p, out)))
    try:
        with torch.no_grad():
            x = preprocess(torch.zeros(1, 3, size, size))
            ends = []
            for stage in stages:
                x = stage(x)
                ends.append(tuple(x.shape[1:]) if isinstance(x, torch.Tensor) else None)
    finally:
        for h in handles:
            h.remove()
    layers = []
    for i, path, shape in finished:
        if calls[i, path] == 1:
            layers.append((".".join(p for p in (prefixes[i], path) if p), i, path, shape))
    for i, shape in enumerate(ends):   # a Sequential's children: their outputs are the stage ends
        if prefixes[i] and shape is not None:
            at = max((k for k, lay in enumerate(layers) if lay[1] <= i), default=-1) + 1
            layers.insert(at, (prefixes[i], i, None, shape))
    return layers, tuple(x.shape[1:]) if isinstance(x, torch.Tensor) else ()


def _describe(name: str, shape: tuple[int, ...], size: int) -> tuple[int, int, str]:
    """(channels, stride, title) of an activation shape: (C, H, W) maps, (N, C) tokens, (C,) vectors."""
    if len(shape) == 3:
        c, h, w = shape
        return c, max(1, round(size / h)), f"{name} · {c} ch · {h}×{w}"
    if len(shape) == 2:
        return shape[-1], 1, f"{name} · {shape[0]} tokens × {shape[1]}"
    return shape[0], 1, f"{name} · {shape[0]}"


def adapt(module: nn.Module, *, name: str | None = None, input_size: int | None = None,
          preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
          mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
          weights: str = "custom") -> Model:
    """Return `module` as a frozen, eval-mode `Model` whose layers are its submodules' dotted names.

    Preprocessing maps images in [0, 1] to the network's input: `preprocess`, else (x − mean) / std with the
    `mean` and `std` given, else timm's `pretrained_cfg`, else ImageNet's mean and std. The input size is
    `input_size`, else `pretrained_cfg`'s, else 224. Both choices are recorded in `model.meta`. weights: a
    label for provenance ("random", a file name, …); the state dict's SHA-256 is recorded beside it.
    The module itself is set to eval mode and its parameters stop requiring gradients.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"adapt needs a torch.nn.Module, got {type(module).__name__}")
    size, size_note = choose_size(module, input_size)
    prep, prep_note = choose_preprocess(module, preprocess, mean, std)
    module.eval().requires_grad_(False)
    stages, prefixes = _stages(module)
    found, out_shape = trace(stages, prefixes, prep, size)
    if not found:
        raise ValueError(f"{name or type(module).__name__}: no submodule returned a tensor in a forward pass "
                         f"at {size} px; nothing to caricature")
    layers = {}
    for full, i, path, shape in found:
        channels, stride, title = _describe(full, shape, size)
        layers[full] = Layer(full, title, i, "module", channels, stride, path, shape)
    if len(out_shape) == 1 and "output" not in layers:   # a classifier's logits: attribution targets them
        layers["output"] = Layer("output", f"output · {out_shape[0]} values", len(stages) - 1, "logits",
                                 out_shape[0], 1, None, tuple(out_shape))
    tops = [p for p in prefixes if p in layers] or [n for n in layers if "." not in n and n != "output"]
    meta = {"family": "adapted", "adapted": True, "module": type(module).__qualname__, "stage_ends": tops,
            "params": sum(p.numel() for p in module.parameters()), "preprocess": prep_note,
            "input_size": size_note, "seed": None, "weights_file": None}
    return Model(name or type(module).__name__, size, stages, layers, prep, weights, weights_digest(module),
                 meta)
