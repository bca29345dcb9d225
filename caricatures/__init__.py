"""Caricatures of photos at layers of vision networks, with lucid's recipe, for any PyTorch model.

    import caricatures
    caricatures.list_layers(my_net, input_size=224)                       # dotted names and shapes
    result = caricatures.caricature(my_net, "photo.jpg", ["layer2", "layer3.1"], steps=512)
    result.images[0, 1], result.metrics[0][1]["gain"]

`model` is a built-in name (`caricatures.list_models()`), any `torch.nn.Module` (see `adapt`) or a `Model`.
The names below load their modules on first use, so `import caricatures` stays light.
"""
from importlib import import_module

# Bump when a change to the engine may change any generated figure: it is part of every figure's cache key.
ENGINE_VERSION = "0.3.0"

_PUBLIC = {
    "caricature": "caricatures.api", "list_layers": "caricatures.api", "as_model": "caricatures.api",
    "adapt": "caricatures.models.adapter", "load_model": "caricatures.models", "list_models": "caricatures.models",
    "Model": "caricatures.models", "make_caricatures": "caricatures.make",
    "visualize_channel": "caricatures.make", "CaricatureResult": "caricatures.make",
    "Settings": "caricatures.settings", "load_photo": "caricatures.images",
}
__all__ = ["ENGINE_VERSION", "CaricatureResult", "Model", "Settings", "adapt", "as_model", "caricature", "list_layers",
           "list_models", "load_model", "load_photo", "make_caricatures", "visualize_channel"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'caricatures' has no attribute {name!r}")
