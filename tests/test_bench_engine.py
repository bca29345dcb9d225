"""bench/bench_engine.py: the time-to-quality criterion (the first snapshot whose mean ratio reaches 1), and the
engine's objective over several photos (each caricature compared with its own photo)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_engine import caricature_objective, first_reaching


def test_the_first_step_whose_mean_over_layers_reaches_the_reference():
    curve = {48: [1.3, 1.1], 16: [0.9, 0.8], 32: [1.2, 0.8]}        # 32: one layer above, the mean 1.0
    assert first_reaching(curve) == (32, pytest.approx(1.0))
    assert first_reaching({16: [0.5, 1.4], 32: [0.99, 0.99]}) is None   # never on average


def test_a_single_layer_above_the_bar_is_not_enough():
    assert first_reaching({16: [2.5, 0.1, 0.1], 32: [1.0, 1.0, 1.01]}) == (32, pytest.approx(1.0033, abs=1e-4))


def test_each_caricature_is_compared_with_its_own_photo_at_its_own_layer():
    layers = ["block0", "block4", "block15"]
    terms = [term for _, term in caricature_objective(2, layers).terms]
    # rows: photos 0 and 1, then photo 0's three caricatures, then photo 1's
    assert [(t.layer, t.rows) for t in terms] == [
        ("block0", (2, 0)), ("block4", (3, 0)), ("block15", (4, 0)),
        ("block0", (5, 1)), ("block4", (6, 1)), ("block15", (7, 1))]
