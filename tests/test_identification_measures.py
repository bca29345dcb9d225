"""The evidence's measures against independent oracles: centred cosine against numpy written out, the rank
of a caricature's own photo on constructed cases with known answers, and the bootstrap interval's coverage
on a known distribution."""
import numpy as np
import pytest

from caricatures.metrics import bootstrap_interval, cosine_matrix, own_ranks


def test_cosine_matrix_raw_and_centred_against_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3, 4)), rng.normal(size=(7, 3, 4)) + 2.0
    centre = b.mean(0)
    for c in (None, centre):
        got = cosine_matrix(a, b, c)
        for i in range(5):
            for j in range(7):
                x, y = a[i].ravel(), b[j].ravel()
                if c is not None:
                    x, y = x - c.ravel(), y - c.ravel()
                assert got[i, j] == pytest.approx(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)), abs=1e-12)
    # centring removes what every photo shares: a shared offset no longer makes unrelated rows alike
    shared = rng.normal(size=12) * 10
    u, v = rng.normal(size=(2, 12)) + shared
    assert cosine_matrix(u[None], v[None])[0, 0] > 0.9
    assert abs(cosine_matrix(u[None], v[None], shared)[0, 0]) < 0.9


def test_own_ranks_on_constructed_cases():
    assert own_ranks(np.eye(4)).tolist() == [1, 1, 1, 1]                  # each image is its photo
    s = np.array([[0.9, 0.8, 0.1],       # own photo first
                  [0.7, 0.5, 0.6],       # two photos above its own: rank 3
                  [0.2, 0.4, 0.4]])      # a tie with another photo counts against it: rank 2
    assert own_ranks(s).tolist() == [1, 3, 2]
    shuffled = np.eye(5)[[1, 2, 3, 4, 0]] + 0.5 * np.eye(5)               # each is nearer another photo
    assert own_ranks(shuffled).tolist() == [2, 2, 2, 2, 2]
    assert own_ranks(np.zeros((4, 4))).tolist() == [4, 4, 4, 4]            # no information: the worst rank
    with pytest.raises(ValueError):
        own_ranks(np.zeros((2, 3)))


def test_top1_of_random_similarities_is_at_chance():
    rng = np.random.default_rng(1)
    ranks = np.concatenate([own_ranks(rng.normal(size=(100, 100))) for _ in range(20)])
    assert np.mean(ranks == 1) == pytest.approx(0.01, abs=0.005)
    assert np.mean(ranks <= 5) == pytest.approx(0.05, abs=0.01)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    hits = 0
    for trial in range(200):
        sample = rng.normal(1.0, 2.0, 60)                                   # true mean 1
        lo, hi = bootstrap_interval(sample, n=400, seed=trial)
        hits += lo <= 1.0 <= hi
    assert 0.90 <= hits / 200 <= 0.99
    lo, hi = bootstrap_interval([1.0, 1.0, 1.0])
    assert lo == hi == 1.0
    with pytest.raises(ValueError):
        bootstrap_interval([1.0])
