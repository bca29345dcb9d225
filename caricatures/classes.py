"""ImageNet-1k class names in index order, read from caricatures/imagenet_classes.txt."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")


@lru_cache(maxsize=1)
def _read() -> tuple[str, ...]:
    names = tuple(line.strip() for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(names) != 1000:
        raise ValueError(f"{CLASSES_FILE}: expected 1000 class names, found {len(names)}; restore it from git")
    return names


def imagenet_classes() -> list[str]:
    """Return the 1000 ImageNet class names; index i is logit i of every model in the zoo."""
    return list(_read())
