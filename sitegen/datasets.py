"""The two data sets the fine-tuning experiment trains on, both offline and deterministic.

    images, labels = dataset_split("fashion-mnist", "train")       # uint8 (N, 28, 28), int64 (N,)
    images, labels = synthetic_batch(rng, 32, size=64)             # uint8 (32, 64, 64, 3): dead leaves

Fashion-MNIST is read from Debian's package `dataset-fashion-mnist` (IDX files, gzip). The synthetic set is
"dead leaves": opaque shapes of random colours dropped one over another; its ten classes are five shapes ×
two size ranges, so an image holds no natural content at all and its class is a matter of shape and scale.
"""
from __future__ import annotations

import gzip
import hashlib
import inspect
import os
from functools import cache
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")   # FASHION_MNIST_DIR overrides it (tests)
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
SHAPES = ("disc", "square", "diamond", "bar", "ring")
SCALES = ((0.04, 0.09), (0.12, 0.26))       # leaf radius as a fraction of the side: small, large
LEAVES = (240, 40)                          # leaves per image, small and large: enough to cover it
SYNTHETIC_CLASSES = tuple(f"{scale} {shape}s" for scale in ("small", "large") for shape in SHAPES)
DATASETS = ("fashion-mnist", "dead-leaves")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Return the array of an IDX file (gzip or plain): magic 0, 0, type, ndim; then big-endian int32 dims."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic bytes {data[:4].hex()})")
    ndim = data[3]
    dims = tuple(int(d) for d in np.frombuffer(data, ">i4", ndim, 4))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    body = 4 + 4 * ndim
    need = int(np.prod(dims)) * dtype.itemsize
    if len(data) - body != need:
        raise ValueError(f"{path}: IDX dims {dims} need {need} bytes of data, found {len(data) - body}")
    return np.frombuffer(data, dtype, offset=body).reshape(dims).astype(dtype.newbyteorder("="))


def fashion_dir() -> Path:
    """Return the folder of the Fashion-MNIST files: $FASHION_MNIST_DIR, else Debian's."""
    return Path(os.environ.get("FASHION_MNIST_DIR") or FASHION_DIR)


def fashion_files(split: str | None = None) -> list[Path]:
    """Return the IDX files of `split` (both splits when None), raising a clear error when one is missing."""
    if split is not None and split not in FASHION_FILES:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(FASHION_FILES)}")
    paths = [fashion_dir() / name for s in ([split] if split else FASHION_FILES) for name in FASHION_FILES[s]]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"Fashion-MNIST file missing: {p}; install Debian's package "
                                    f"dataset-fashion-mnist (run ./setup.sh)")
    return paths


def dataset_digest(dataset: str) -> str:
    """Return what identifies a data set's content (part of a fine-tune run's key): the SHA-256 of
    Fashion-MNIST's files, or of the dead-leaves generator's source."""
    if dataset == "fashion-mnist":
        h = hashlib.sha256()
        for p in fashion_files():
            h.update(_file_sha256(str(p), p.stat().st_size, p.stat().st_mtime_ns).encode())
        return h.hexdigest()
    class_names(dataset)
    return hashlib.sha256("".join(inspect.getsource(f) for f in (_leaf_masks, dead_leaves, synthetic_batch))
                          .encode() + repr((SHAPES, SCALES, LEAVES)).encode()).hexdigest()


@cache
def _file_sha256(path: str, _size: int, _mtime: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return Fashion-MNIST's `split` ("train": 60,000, "test": 10,000) as uint8 (N, 28, 28) and int64 labels."""
    paths = fashion_files(split)
    images, labels = read_idx(paths[0]), read_idx(paths[1]).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"{paths[0]}: expected (N, H, W) images matching {len(labels)} labels, got {images.shape}")
    return images, labels


def _leaf_masks(shape: str, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Return whether pixels at offsets (dx, dy) from a leaf's centre lie in the leaf of radius r."""
    if shape == "disc":
        return dx * dx + dy * dy < r * r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) < r
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) < r
    if shape == "bar":
        return (np.abs(dx) < r) & (np.abs(dy) < r / 3)
    d2 = dx * dx + dy * dy
    return (d2 < r * r) & (d2 > r * r / 4)


def dead_leaves(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """Return uint8 (B, size, size, 3) dead-leaves images of the given classes (SYNTHETIC_CLASSES indices)."""
    labels = np.asarray(labels)
    out = np.empty((len(labels), size, size, 3), np.uint8)
    for c in range(len(SYNTHETIC_CLASSES)):
        idx = np.flatnonzero(labels == c)
        if not len(idx):
            continue
        shape, (lo, hi) = SHAPES[c % len(SHAPES)], SCALES[c // len(SHAPES)]
        b, leaves = len(idx), LEAVES[c // len(SHAPES)]
        colours = rng.integers(0, 256, (b, leaves + 1, 3), dtype=np.uint8)     # colour 0: the background
        top = np.zeros((b, size, size), np.int16)                               # the leaf seen at each pixel
        # Each leaf is drawn in the square patch around its centre that can hold the largest one.
        patch = np.arange(int(np.ceil(2 * hi * size)) + 3) - int(np.ceil(hi * size)) - 1
        for k in range(1, leaves + 1):
            cx, cy = rng.uniform(-0.1, 1.1, (2, b, 1)) * size
            r = rng.uniform(lo, hi, (b, 1, 1)) * size
            xs, ys = np.floor(cx).astype(int) + patch, np.floor(cy).astype(int) + patch      # (b, P)
            mask = _leaf_masks(shape, (xs - cx)[:, None, :], (ys - cy)[:, :, None], r)
            mask &= ((xs >= 0) & (xs < size))[:, None, :] & ((ys >= 0) & (ys < size))[:, :, None]
            bi, py, px = np.nonzero(mask)
            top[bi, ys[bi, py], xs[bi, px]] = k
        out[idx] = colours[np.arange(b)[:, None, None], top]
    return out


def synthetic_batch(rng: np.random.Generator, batch: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return `batch` dead-leaves images (uint8 (B, size, size, 3)) of uniformly drawn classes, and the labels."""
    labels = rng.integers(0, len(SYNTHETIC_CLASSES), batch)
    return dead_leaves(rng, labels, size), labels.astype(np.int64)


def class_names(dataset: str) -> tuple[str, ...]:
    """Return the ten class names of a data set."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; valid: {', '.join(DATASETS)}")
    return FASHION_CLASSES if dataset == "fashion-mnist" else SYNTHETIC_CLASSES
