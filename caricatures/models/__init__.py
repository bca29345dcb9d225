"""The model zoo: `load_model(name)` returns a frozen, eval-mode `Model` with ImageNet or seeded random weights.

    model = load_model("efficientnet_lite0")
    acts = model.activations(images, ["block7", "block10.branch"])
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import nn

from caricatures.files import sha256_file
from caricatures.models import efficientnet_lite, mobilenet_v2
from caricatures.models.base import Layer, Model
from caricatures.models.common import init_stage, layer_table, stage_generator
from caricatures.models.fold import fold_batchnorm

__all__ = ["MODELS", "Layer", "Model", "fold_batchnorm", "input_size", "list_models", "load_model"]


@dataclass(frozen=True)
class Spec:
    build: Callable[[], nn.Module]       # network with .stages(), .description and .input_size
    weights_file: Callable[[], Path]
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    family: str


def _lite(name: str) -> Spec:
    return Spec(lambda: efficientnet_lite.EfficientNetLite(name), lambda: efficientnet_lite.weights_file(name),
                efficientnet_lite.preprocess, "efficientnet-lite")


MODELS: dict[str, Spec] = {
    **{name: _lite(name) for name in efficientnet_lite.VARIANTS},
    "mobilenet_v2": Spec(mobilenet_v2.MobileNetV2, mobilenet_v2.weights_file, mobilenet_v2.preprocess,
                         "mobilenet-v2"),
}

_STATES: dict[tuple[str, int, int], dict[str, torch.Tensor]] = {}


def list_models() -> list[str]:
    """Return the valid model names."""
    return list(MODELS)


@cache
def input_size(name: str) -> int:
    """Return model `name`'s input size in pixels, as its network tells it, without loading weights: the network
    is built once per process on the meta device, which allocates no parameters."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    with torch.device("meta"):
        return MODELS[name].build().input_size


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    key = _file_key(path)
    if key not in _STATES:
        if not path.is_file():
            raise FileNotFoundError(f"weight file missing: {path}; reinstall the weight package (./setup.sh)")
        _STATES[key] = torch.load(path, map_location="cpu", weights_only=True)
    return _STATES[key]


def load_model(name: str, weights: str = "imagenet", seed: int = 0, reinit: Iterable[str] = ()) -> Model:
    """Build model `name` frozen in eval mode.

    weights: "imagenet" (strict load from the installed package) or "random" (seeded init).
    reinit: stage layer names ("stem", "block15", "head", "logits") re-initialized with `seed` after loading;
    a stage gets the same random weights as in `load_model(name, "random", seed)`.
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    if weights not in ("imagenet", "random"):
        raise ValueError(f"unknown weights {weights!r} for {name}; valid: imagenet, random")
    spec, reinit = MODELS[name], list(reinit)
    net = spec.build()
    stages = net.stages()
    meta = {"family": spec.family, "seed": seed if weights == "random" or reinit else None,
            "stage_ends": [f"block{i}" for i in net.description.stage_ends],
            "params": sum(p.numel() for p in net.parameters()), "weights_file": None}
    digest = None
    if weights == "imagenet":
        path = spec.weights_file()
        net.load_state_dict(_state_dict(path), strict=True)
        digest, meta["weights_file"] = sha256_file(path, remember=True), str(path)
    else:
        for i, stage in enumerate(stages):
            init_stage(stage, stage_generator(seed, i))
    model = Model(name, net.input_size, stages, layer_table(net.description, net.input_size),
                  spec.preprocess, weights, digest, meta)
    for layer_name in reinit:
        lay = model.layer(layer_name)
        if lay.module is not None:
            raise ValueError(f"cannot reinit {layer_name!r} of {name}: it is inside stage "
                             f"{layer_name.split('.')[0]!r}; reinit whole stages")
        init_stage(stages[lay.stage], stage_generator(seed, lay.stage))
    if reinit:
        model.weights = f"{weights}+reinit:{','.join(reinit)}"
    stages.eval()
    stages.requires_grad_(False)
    return model
