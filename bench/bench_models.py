"""Caricature-steps per second at 224 px: modules through the generic path beside the built-in Lite0.

    .venv/bin/python bench/bench_models.py                  # 3 rounds of 16 steps, one photo, three layers
    .venv/bin/python bench/bench_models.py --steps 32 --rounds 5

Every model caricatures the same photo at three layers (early, middle, late) for the same steps, in the
default precision (the optimization loop's own time: preparing the model and measuring the result are
left out); the models take turns within each round, so a busy machine slows them alike. It prints
each model's median rate and its ratio to the built-in Lite0 measured in the same run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from caricatures.runtime import ensure_malloc_env

if __name__ == "__main__":
    ensure_malloc_env()

import torch

from caricatures.images import load_photo
from caricatures.make import make_caricatures
from caricatures.models import load_model
from caricatures.models.adapter import adapt
from caricatures.prepare import resolve_precision
from tests.own_models import LITE_MEAN, LITE_STD, SmallCNN, SmallViT

SIZE = 224


def models() -> dict[str, tuple]:
    """name → (Model, its three layers)."""
    from efficientnet_lite_pytorch import EfficientNet as Lite
    from efficientnet_pytorch import EfficientNet
    torch.manual_seed(0)
    zoo = load_model("efficientnet_lite0")
    lite = Lite.from_name("efficientnet-lite0")
    lite.load_state_dict(torch.load(zoo.meta["weights_file"], map_location="cpu", weights_only=True))
    return {
        "built-in Lite0 (staged)": (zoo, ["block2", "block7", "block13"]),
        "Lite0, efficientnet_lite_pytorch": (adapt(lite, input_size=SIZE, mean=LITE_MEAN, std=LITE_STD),
                                             ["_blocks.2", "_blocks.7", "_blocks.13"]),
        "EfficientNet-B0, efficientnet-pytorch": (adapt(EfficientNet.from_name("efficientnet-b0"), input_size=SIZE),
                                                  ["_blocks.2", "_blocks.7", "_blocks.13"]),
        "small CNN (tests/own_models.py)": (adapt(SmallCNN(), input_size=SIZE), ["conv1", "bn1", "conv2"]),
        "ViT 4×192, patch 16 (tests/own_models.py)": (
            adapt(SmallViT(size=SIZE, patch=16, dim=192, depth=4, heads=3), input_size=SIZE),
            ["blocks.0", "blocks.1", "blocks.3"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    photo = load_photo(ROOT / "images/animals/panda.jpg", SIZE)
    table = models()
    rates: dict[str, list[float]] = {name: [] for name in table}
    for name, (model, layers) in table.items():   # warm-up: prepared copies, kernels
        make_caricatures(model, photo, layers, steps=1)
    for _ in range(args.rounds):
        for name, (model, layers) in table.items():
            result = make_caricatures(model, photo, layers, steps=args.steps)
            rates[name].append(len(layers) * args.steps / result.settings["seconds"])   # the loop's own time
    base = statistics.median(rates["built-in Lite0 (staged)"])
    print(f"{SIZE} px, 1 photo × 3 layers, {args.steps} steps × {args.rounds} rounds, precision "
          f"{resolve_precision('auto', 'cpu')}, {torch.get_num_threads()} threads")
    print("| model | layers | caricature-steps/s (median) | ÷ built-in Lite0 |\n|---|---|---|---|")
    for name, (_, layers) in table.items():
        rate = statistics.median(rates[name])
        print(f"| {name} | {', '.join(layers)} | {rate:.1f} | {rate / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
