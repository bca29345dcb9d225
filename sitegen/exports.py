"""Build step: the files a figure loads only when the reader asks for them, written as scripts.

A figure asks in its data: `data["exports"] = {"model": name, "photos": {key: path}, "photo_size": 224}`
(photo_size: by default the model's input size, or 224 when no model is named).
The model's weights (sitegen/web_export.py: BatchNorm folded, float16, one script per part) are exported
once per weights digest and exporter source into the cache (.cache/exports/) and copied into the site under
models/<name>/; each photo becomes figures/<id>/photo-<key>.js. Figures without `exports` cost nothing here, and
torch is imported only when one has them.
"""
from __future__ import annotations

import logging
import shutil

from sitegen.errors import BuildError

log = logging.getLogger("build")


def export_payloads(site, config) -> None:
    """Write the weights and photo scripts that the figures' data asks for into the staged site."""
    for fig_id, index in site.figures.items():
        exports = (index.get("data") or {}).get("exports") if not index.get("missing") else None
        if not exports:
            continue
        from sitegen import web_export

        name = exports.get("model")
        if name:
            try:
                folder, made = web_export.cached_export(name, config.cache)
            except KeyError:
                raise BuildError(f"figure {fig_id!r}: data.exports.model {name!r} is not a known model") \
                    from None
            dest = site.stage / "models" / name
            if not dest.exists():
                shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("MANIFEST.json"))
            log.info("exports: %s weights %s", name, "exported" if made else "from the cache")
        size = exports.get("photo_size") or _photo_size(name)
        for key, rel in (exports.get("photos") or {}).items():
            path = site.stage / web_export.photo_file(fig_id, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            text = web_export.photo_script(fig_id, key, config.root / rel, int(size))
            path.write_text(text, encoding="ascii")


def _photo_size(model: str | None) -> int:
    """Return the size photos are exported at when the figure does not say: the model's input size."""
    if not model:
        return 224   # no model to ask: ImageNet's usual size
    from caricatures.models import input_size
    return input_size(model)
