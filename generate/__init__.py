"""Caricatures engine: models, parametrizations, transforms, objectives and the render loop."""

# Bump when a change to the engine may change any generated figure: it is part of every figure's cache key.
ENGINE_VERSION = "0.3.0"
