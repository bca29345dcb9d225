"""The time-to-quality criterion of bench/bench_engine.py: the first snapshot whose mean ratio reaches 1."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_engine import first_reaching


def test_the_first_step_whose_mean_over_layers_reaches_the_reference():
    curve = {48: [1.3, 1.1], 16: [0.9, 0.8], 32: [1.2, 0.8]}        # 32: one layer above, the mean 1.0
    assert first_reaching(curve) == (32, pytest.approx(1.0))
    assert first_reaching({16: [0.5, 1.4], 32: [0.99, 0.99]}) is None   # never on average


def test_a_single_layer_above_the_bar_is_not_enough():
    assert first_reaching({16: [2.5, 0.1, 0.1], 32: [1.0, 1.0, 1.01]}) == (32, pytest.approx(1.0033, abs=1e-4))
