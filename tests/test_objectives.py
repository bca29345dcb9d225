"""Objectives vs numpy: lucid's dot_compare (with its 0.1 floor), channel, neuron, direction,
attribution_dot; the +, −, * algebra; Rows indexing."""
import numpy as np
import pytest
import torch

from generate.objectives import Rows, attribution_dot, channel, direction, dot_compare, neuron, objective

RNG = np.random.default_rng(0)


def acts(n=3, c=4, h=5, w=6):
    return {"L": torch.from_numpy(RNG.normal(size=(n, c, h, w)).astype(np.float32))}


def numpy_dot_compare(opt, orig, p):
    dot = float((opt.astype(np.float64) * orig).sum())
    cossim = max(0.1, dot / (1e-6 + np.linalg.norm(opt.astype(np.float64))))
    return dot * cossim ** p


@pytest.mark.parametrize("p", [0, 0.5, 1, 2])
def test_dot_compare_matches_numpy(p):
    a = acts()
    a["L"][2] = a["L"][0] * 0.7 + a["L"][2] * 0.3  # a positive dot, above the floor
    for batch in (1, 2):
        want = numpy_dot_compare(a["L"][batch].numpy(), a["L"][0].numpy(), p)
        assert dot_compare("L", batch, 0, p)(a).item() == pytest.approx(want, rel=1e-4)


def test_dot_compare_floor_on_negative_dot():
    a = acts()
    a["L"][1] = -a["L"][0]
    dot = float((a["L"][1] * a["L"][0]).sum())
    assert dot < 0
    assert dot_compare("L", 1, 0, 2)(a).item() == pytest.approx(dot * 0.1 ** 2, rel=1e-4)


def test_dot_compare_gradient_ignores_the_original():
    a = {"L": torch.randn(2, 3, 4, 4, requires_grad=True)}
    dot_compare("L", 1, 0, 1)(a).backward()
    assert a["L"].grad[0].abs().sum() == 0 and a["L"].grad[1].abs().sum() > 0


def test_channel_neuron_direction_attribution_vs_numpy():
    a = acts()
    x = a["L"].numpy().astype(np.float64)
    assert channel("L", 2)(a).item() == pytest.approx(x[:, 2].mean(), rel=1e-5)
    assert channel("L", 2, batch=1)(a).item() == pytest.approx(x[1, 2].mean(), rel=1e-5)
    assert neuron("L", 3)(a).item() == pytest.approx(x[:, 3, 2, 3].mean(), rel=1e-5)
    assert neuron("L", 3, x=1, y=4, batch=2)(a).item() == pytest.approx(x[2, 3, 4, 1], rel=1e-5)
    v = RNG.normal(size=4)
    assert direction("L", torch.tensor(v))(a).item() == pytest.approx(
        np.einsum("bchw,c->bhw", x, v).mean(), rel=1e-5)
    dots = np.einsum("chw,c->hw", x[1], v)
    cos = dots / (1e-4 + np.linalg.norm(x[1], axis=0)) / (1e-4 + np.linalg.norm(v))
    assert direction("L", torch.tensor(v), batch=1, cossim_pow=2)(a).item() == pytest.approx(
        (dots * np.maximum(cos, 0.1) ** 2).mean(), rel=1e-4)
    attr = RNG.normal(size=x.shape[1:])
    assert attribution_dot("L", torch.tensor(attr), 2)(a).item() == pytest.approx((x[2] * attr).sum(), rel=1e-5)


def test_algebra_and_names():
    a = acts()
    f, g, h = channel("L", 0), channel("L", 1), neuron("L", 2)
    combo = f + 2 * g - h * 0.5
    want = f(a) + 2 * g(a) - 0.5 * h(a)
    assert combo(a).item() == pytest.approx(want.item(), rel=1e-6)
    assert (-f)(a).item() == pytest.approx(-f(a).item())
    assert sum(v.item() for v in combo.values(a)) == pytest.approx(combo(a).item(), rel=1e-6)
    assert len(combo.terms) == 3 and combo.layers == ["L"]
    assert "channel(L, 0)" in combo.name and "2·" in combo.name
    custom = objective(lambda acts: acts["L"].sum(), "total", "L")
    assert custom.name == "total" and custom.terms[0][1].rows is None


def test_rows_index_by_logical_position():
    r = Rows("L")
    orig, cars = torch.randn(1, 2, 3, 3), torch.randn(2, 2, 3, 3)
    r.add(orig, {0: 0})
    r.add(cars, {3: 0, 1: 1})
    assert torch.equal(r[0], orig[0]) and torch.equal(r[3], cars[0]) and torch.equal(r[1], cars[1])
    assert torch.equal(r.full(), torch.stack([orig[0], cars[1], cars[0]]))
    with pytest.raises(KeyError, match="row 2 was not computed at layer 'L'"):
        r[2]
