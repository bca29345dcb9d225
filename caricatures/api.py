"""The high-level calls: a caricature of a photo, and the layers to choose from, for any model."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from caricatures.images import load_photo
from caricatures.make import CaricatureResult, make_caricatures
from caricatures.models import Model, load_model
from caricatures.models.adapter import adapt


def as_model(model: str | nn.Module | Model, *, input_size: int | None = None,
             preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
             mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> Model:
    """Return a `Model`: a built-in one by name (ImageNet weights), any `nn.Module` through `adapt`, or the
    `Model` given."""
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        if input_size is not None or preprocess is not None or mean is not None or std is not None:
            raise ValueError(f"built-in model {model!r} has its own input size and preprocessing; "
                             "pass size= to the caricature instead")
        return load_model(model)
    return adapt(model, input_size=input_size, preprocess=preprocess, mean=mean, std=std)


def layer_rows(model: Model) -> list[tuple[str, tuple[int, ...]]]:
    """Each layer's name and one image's activation shape at the model's input size."""
    return [(name, model.shape(name)) for name in model.layers]


def layer_table(model: Model, preprocessing: bool = False) -> str:
    """The text of a layer listing: a head line, then each layer's name and activation shape."""
    rows = layer_rows(model)
    width = max(len(name) for name, _ in rows)
    note = f"; preprocessing {model.meta['preprocess']}" if preprocessing and "preprocess" in model.meta else ""
    head = f"{model.name}: {len(rows)} layers at {model.input_size} px{note}"
    return "\n".join([head, *(f"  {name:<{width}}  {tuple(shape)}" for name, shape in rows)])


def list_layers(model: str | nn.Module | Model, *, print_: bool = True, **adapt_kw) -> list[str]:
    """Print the model's layers with their activation shapes (like lucent's `get_model_layers`); return
    the names."""
    m = as_model(model, **adapt_kw)
    if print_:
        print(layer_table(m))
    return list(m.layers)


def caricature(model: str | nn.Module | Model, photo: str | Path | torch.Tensor, layers: str | Sequence[str],
               *, input_size: int | None = None, preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
               **settings) -> CaricatureResult:
    """Caricature one photo (a file, or a (3, H, W) tensor in [0, 1]) at each layer, with lucid's recipe.

    settings: the fields of `Settings` (steps=512, seed=0, lr=0.05, size, cossim_pow, …) and device= or
    precision=. The result holds images (1, L, S, S, 3) and metrics[0][i] = {cosine, gain, objective}."""
    m = as_model(model, input_size=input_size, preprocess=preprocess, mean=mean, std=std)
    layers = [layers] if isinstance(layers, str) else list(layers)
    for name in layers:
        m.layer(name)
    if not isinstance(photo, torch.Tensor):
        photo = load_photo(photo, settings.get("size") or m.input_size)
    return make_caricatures(m, photo, layers, **settings)
