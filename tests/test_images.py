"""Photo loading: every kind of bad or unusual file, resize-and-crop geometry, class names and credits."""
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from caricatures import images
from caricatures.images import PhotoError, imagenet_classes, load_photo, photo_credits

RED, WHITE = (1.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def _px(t, y, x):
    return tuple(round(v, 2) for v in t[:, y, x].tolist())


def _close(t, y, x, rgb, tol=0.06):
    return all(abs(a - b) <= tol for a, b in zip(t[:, y, x].tolist(), rgb))


def _save(tmp_path, im, name, **kw):
    path = tmp_path / name
    im.save(path, **kw)
    return path


def test_real_photo_shape_and_range():
    x = load_photo("images/animals/panda.jpg", 224)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert 0 <= x.min() < 0.2 and 0.8 < x.max() <= 1


@pytest.mark.parametrize("size", [100, 50])
@pytest.mark.parametrize("portrait", [False, True])
def test_short_side_resize_then_centre_crop(tmp_path, size, portrait):
    bands = np.zeros((100, 300, 3), np.uint8)
    bands[:, :100, 0] = bands[:, 100:200, 1] = bands[:, 200:, 2] = 255
    if portrait:
        bands = bands.transpose(1, 0, 2)
    x = load_photo(_save(tmp_path, Image.fromarray(bands), "bands.png"), size)
    assert x.shape == (3, size, size)
    inner = x[:, 3:-3, 3:-3] if size == 50 else x  # resampling blurs the band edges
    assert torch.allclose(inner, torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1), atol=0.02)


def test_huge_legal_photo_is_downscaled(tmp_path):
    w, h = 4000, 3000
    ramp = np.linspace(0, 255, w, dtype=np.float32)
    rgb = np.stack([np.broadcast_to(ramp, (h, w)), np.full((h, w), 128.0), np.broadcast_to(255 - ramp, (h, w))], -1)
    x = load_photo(_save(tmp_path, Image.fromarray(rgb.astype(np.uint8)), "big.jpg", quality=95), 64)
    nw = round(w * 64 / h)
    expect = (np.arange(64) + (nw - 64) // 2 + 0.5) / nw  # red = source x / width, sampled at pixel centres
    assert x.shape == (3, 64, 64)
    assert np.abs(x[0, 32].numpy() - expect).max() < 0.03
    assert np.abs(x[1].numpy() - 128 / 255).max() < 0.03


def test_small_photo_is_upscaled(tmp_path):
    x = load_photo(_save(tmp_path, Image.new("RGB", (40, 32), (10, 200, 30)), "small.png"), 224)
    assert x.shape == (3, 224, 224) and _close(x, 100, 100, (10 / 255, 200 / 255, 30 / 255), 0.01)


def test_grayscale(tmp_path):
    x = load_photo(_save(tmp_path, Image.linear_gradient("L").resize((64, 64)), "gray.jpg"), 64)
    assert x.shape == (3, 64, 64) and torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert x[0, 60].mean() > x[0, 4].mean() + 0.5


def test_cmyk(tmp_path):
    x = load_photo(_save(tmp_path, Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "cmyk.jpg"), 64)
    assert _close(x, 32, 32, RED, 0.08), _px(x, 32, 32)


def test_alpha_is_composited_over_white(tmp_path):
    a = np.zeros((64, 64, 4), np.uint8)
    a[:, :32] = (255, 0, 0, 255)   # opaque red
    a[:, 32:48] = (0, 0, 0, 0)     # fully transparent (black underneath must not show)
    a[:, 48:] = (0, 0, 0, 128)     # half-transparent black → mid grey
    x = load_photo(_save(tmp_path, Image.fromarray(a, "RGBA"), "rgba.png"), 64)
    assert _close(x, 10, 10, RED) and _close(x, 10, 40, WHITE) and _close(x, 10, 60, (0.5, 0.5, 0.5), 0.02)
    la = Image.fromarray(a[..., [0, 3]], "LA")
    y = load_photo(_save(tmp_path, la, "la.png"), 64)
    assert _close(y, 10, 10, WHITE) and _close(y, 10, 40, WHITE)  # L=255 opaque; L=0 transparent


@pytest.mark.parametrize("transparent", [False, True])
def test_palette(tmp_path, transparent):
    im = Image.new("P", (64, 64), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(1, (0, 0, 32, 64))
    kw = {"transparency": 0} if transparent else {}
    x = load_photo(_save(tmp_path, im, "pal.png", **kw), 64)
    assert _close(x, 10, 10, RED)
    assert _close(x, 10, 50, WHITE if transparent else (0, 0, 0))


def test_16_bit_grayscale_png(tmp_path):
    a = np.repeat(np.linspace(0, 65535, 64).astype(np.uint16)[:, None], 64, 1)
    path = _save(tmp_path, Image.fromarray(a), "16bit.png")
    assert Image.open(path).mode == "I;16"
    x = load_photo(path, 64)
    assert np.abs(x[1, :, 5].numpy() - a[:, 5] / 65535).max() < 2 / 255


def test_32_bit_integer_tiff(tmp_path):
    a = np.repeat(np.linspace(0, 65535, 64).astype(np.int32)[:, None], 64, 1)
    path = _save(tmp_path, Image.fromarray(a), "int.tif")
    assert Image.open(path).mode == "I"
    x = load_photo(path, 64)
    assert np.abs(x[0, :, 5].numpy() - a[:, 5] / 65535).max() < 2 / 255


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((32, 64, 3), np.uint8)
    a[:, :32] = (255, 0, 0)
    a[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise: the left (red) half ends up on top
    x = load_photo(_save(tmp_path, Image.fromarray(a), "rot.jpg", exif=exif, quality=95), 32)
    assert x.shape == (3, 32, 32)
    assert all(_close(x, 4, c, RED, 0.1) for c in range(2, 30))
    assert all(_close(x, 28, c, (0, 0, 1), 0.1) for c in range(2, 30))


def test_missing_file(tmp_path):
    with pytest.raises(PhotoError, match=r"nope\.jpg: no such file"):
        load_photo(tmp_path / "nope.jpg", 64)
    with pytest.raises(PhotoError, match="no such file"):
        load_photo(tmp_path, 64)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo\n")
    with pytest.raises(PhotoError, match=r"notes\.jpg: not a readable image"):
        load_photo(path, 64)


def test_truncated_jpeg(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    full = _save(tmp_path, Image.fromarray(noise), "full.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(PhotoError, match=r"cut\.jpg: cannot decode"):
        load_photo(path, 64)


def test_too_small(tmp_path):
    with pytest.raises(PhotoError, match=r"tiny\.png: 40×20 px is too small"):
        load_photo(_save(tmp_path, Image.new("RGB", (40, 20)), "tiny.png"), 64)
    assert load_photo(_save(tmp_path, Image.new("RGB", (32, 32)), "ok.png"), 64).shape == (3, 64, 64)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_header_claiming_a_huge_image(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + _png_chunk(b"IEND", b""))
    with pytest.raises(PhotoError, match=r"bomb\.png: .*decompression bomb"):
        load_photo(path, 64)


def test_our_pixel_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(PhotoError, match=r"64×64 px is over the limit of 1,000 pixels.*decompression bomb"):
        load_photo(_save(tmp_path, Image.new("RGB", (64, 64)), "a.png"), 64)


@pytest.mark.parametrize("limit", [1000, 3000])  # 64² = 4096: PIL errors above 2× its limit, warns above 1×
def test_pil_bomb_error_and_warning(tmp_path, monkeypatch, limit):
    path = _save(tmp_path, Image.new("RGB", (64, 64)), "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(PhotoError, match=r"a\.png: .*decompression bomb"):
        load_photo(path, 64)


def test_bad_size_argument():
    with pytest.raises(ValueError, match="positive int"):
        load_photo("images/animals/panda.jpg", 0)


def test_imagenet_classes():
    names = imagenet_classes()
    assert len(names) == 1000 and names[281] == "tabby" and names[967] == "espresso"


def test_photo_credits_cover_every_photo():
    credits = photo_credits()
    root = Path(images.IMAGES_DIR)
    files = {p.relative_to(root).as_posix() for p in root.rglob("*.jpg")}
    assert set(credits) == files
    assert all(c["license"] and c["author"] and (c["source_url"] or c["origin"]) for c in credits.values())


def test_photo_credits_name_a_missing_field(tmp_path):
    (tmp_path / "credits.json").write_text('[{"file": "a.jpg", "title": "a", "license": "CC0-1.0"}]')
    with pytest.raises(ValueError, match=r"credits\.json: entry 0 \(a\.jpg\) lacks author, source_url or origin"):
        photo_credits(tmp_path)
