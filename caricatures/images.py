"""Photo loading: any common image file → a (3, size, size) float32 tensor in [0, 1]; plus photo credits.

    x = load_photo("images/animals/panda.jpg", 224)   # short side resized to 224, centre crop
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from caricatures.classes import imagenet_classes

__all__ = ["PhotoError", "imagenet_classes", "load_photo", "photo_credits"]

IMAGES_DIR = Path(__file__).resolve().parents[1] / "images"
MAX_PIXELS = 40_000_000  # beyond this a file is more likely a decompression bomb than a photo
MIN_SIDE = 32
CREDIT_FIELDS = ("file", "title", "author", "license")  # plus a source_url or an origin (package-bundled photos)


class PhotoError(ValueError):
    """A photo that cannot be used; the message names the file and the fix."""


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparent pixels are composited over white."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            top = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        else:
            # 16-bit data (I;16*, or "I" from 16-bit sources) spans 0..65535; an "I" image within 0..255 is 8-bit.
            top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        a = np.clip(np.nan_to_num(a) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return im.convert("RGB")


def _open(path: Path, size: int) -> Image.Image:
    with Image.open(path) as im:
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise PhotoError(f"{path}: {w}×{h} px is over the limit of {MAX_PIXELS:,} pixels "
                             "(possible decompression bomb); downscale the photo first")
        if min(w, h) < MIN_SIDE:
            raise PhotoError(f"{path}: {w}×{h} px is too small (short side under {MIN_SIDE} px); "
                             "use a larger photo")
        if im.format == "JPEG" and min(w, h) >= 4 * size:
            im.draft("RGB", (2 * size, 2 * size))  # decode huge JPEGs at reduced scale, still 2× oversampled
        return _to_rgb(ImageOps.exif_transpose(im))


def load_photo(path: str | Path, size: int) -> torch.Tensor:
    """Load a photo, resize its short side to `size` (antialiased bicubic), centre crop to (3, size, size)."""
    path = Path(path)
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"load_photo size must be a positive int, got {size!r}")
    if not path.is_file():
        raise PhotoError(f"{path}: no such file; check the path (the project's photos live under images/)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = _open(path, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PhotoError(f"{path}: rejected as a possible decompression bomb ({e}); downscale the photo first") \
            from None
    except UnidentifiedImageError:
        raise PhotoError(f"{path}: not a readable image; use a JPEG, PNG or WebP photo") from None
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, PhotoError):
            raise
        raise PhotoError(f"{path}: cannot decode the image ({e}); re-save it as JPEG or PNG") from None
    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - size) // 2, (nh - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def photo_credits(images_dir: str | Path = IMAGES_DIR) -> dict[str, dict]:
    """Return credits.json as {file (relative to images/): {title, author, license, source_url, …}}."""
    path = Path(images_dir) / "credits.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; every photo in images/ needs a credit entry there") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid JSON ({e.msg}); fix the syntax") from None
    credits = {}
    for i, entry in enumerate(entries):
        missing = [k for k in CREDIT_FIELDS if not entry.get(k)]
        if not (entry.get("source_url") or entry.get("origin")):
            missing.append("source_url or origin")
        if missing:
            raise ValueError(f"{path}: entry {i} ({entry.get('file', '?')}) lacks {', '.join(missing)}; add it")
        credits[entry["file"]] = entry
    return credits
