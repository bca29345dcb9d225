"""A user's model from the command line: `path/to/file.py:factory` or `package.module:factory`, and its weights.

The factory takes no arguments and returns an `nn.Module`, or `(module, preprocess)` where preprocess maps
images in [0, 1] to the network's input. Weights are never implied: "random" keeps the factory's
initialization, anything else is a state-dict file that must fit the module key for key.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def is_factory_spec(spec: str) -> bool:
    """Whether `spec` names a factory (`file.py:name` or `module:name`) rather than a built-in model."""
    return ":" in spec


def load_factory(spec: str) -> tuple[nn.Module, Callable | None]:
    """Call the factory `spec` names; return its module and the preprocessing it named (or None)."""
    where, _, attr = spec.rpartition(":")
    if not where or not attr.isidentifier():
        raise ValueError(f"--model {spec!r}: use path/to/file.py:factory or package.module:factory")
    if where.endswith(".py") or "/" in where:
        path = Path(where)
        if not path.is_file():
            raise ValueError(f"--model {spec!r}: no such file {where}")
        name = f"caricatures_user_{path.stem}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.resolve().parent))   # so the file can import its neighbours
        try:
            mod_spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise ValueError(f"--model {spec!r}: cannot import {where}: {e}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"--model {spec!r}: {where} has no callable {attr!r}")  # noqa: TRY004
    made = factory()
    net, preprocess = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
    if not isinstance(net, nn.Module):
        raise ValueError(f"--model {spec!r}: {attr}() returned {type(net).__name__}, not a torch.nn.Module")  # noqa: TRY004
    if preprocess is not None and not callable(preprocess):
        raise ValueError(f"--model {spec!r}: the preprocessing {attr}() returned is not callable")
    return net, preprocess


def load_weights(net: nn.Module, weights: str) -> str:
    """Load a state-dict file into `net` (strict), or keep its initialization for "random"; return a label.

    A file that does not fit raises ValueError naming the first key that is missing, unexpected or of
    another shape."""
    if weights == "random":
        return "random"
    path = Path(weights)
    if not path.is_file():
        raise ValueError(f"--weights {weights}: no such file; give a state-dict file or 'random'")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- torch raises many kinds for a bad file
        raise ValueError(f"--weights {weights}: not a PyTorch state-dict file ({type(e).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"--weights {weights}: holds a {type(state).__name__}, not a state dict")  # noqa: TRY004
    own = net.state_dict()
    for key, value in own.items():
        if key not in state:
            raise ValueError(f"--weights {weights}: key {key!r} of the model is missing from the file")
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(f"--weights {weights}: key {key!r} has shape {tuple(state[key].shape)} in the "
                             f"file but {tuple(value.shape)} in the model")
    extra = [k for k in state if k not in own]
    if extra:
        raise ValueError(f"--weights {weights}: key {extra[0]!r} of the file is not in the model")
    net.load_state_dict(state, strict=True)
    return path.name
