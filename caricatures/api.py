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


def list_layers(model: str | nn.Module | Model, *, print_: bool = True, **adapt_kw) -> list[str]:
    """Print the model's layers with their activation shapes (like lucent's `get_model_layers`); return
    the names."""
    m = as_model(model, **adapt_kw)
    rows = layer_rows(m)
    if print_:
        width = max(len(name) for name, _ in rows)
        print(f"{m.name}: {len(rows)} layers at {m.input_size} px")
        for name, shape in rows:
            print(f"  {name:<{width}}  {tuple(shape)}")
    return [name for name, _ in rows]


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
