"""Objectives vs numpy: lucid's dot_compare (with its 0.1 floor), its scale-invariant dot_compare_scaled (by
hand, and Adam's trajectory under scaled activations), channel, neuron, direction, attribution_dot (with the
cosine power to the photo), attribution_accent; the +, −, * algebra; Rows indexing."""
import numpy as np
import pytest
import torch

from caricatures.objectives import (
    Rows,
    attribution_accent,
    attribution_dot,
    channel,
    direction,
    dot_compare,
    dot_compare_scaled,
    neuron,
    objective,
)

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


def pair(opt, photo, k=1.0):
    """Activations of two rows, the photo's (row 0) and the optimized image's (row 1), each (C, 1, 1), times k."""
    return {"L": k * torch.tensor([photo, opt], dtype=torch.float32)[..., None, None]}


def test_dot_compare_scaled_by_hand():
    # photo (3, 4): norm 5; image (1, 2): dot 11, norm √5
    assert dot_compare_scaled("L", 1, 0)(pair([1, 2], [3, 4])).item() == pytest.approx(11 / 25, rel=1e-6)
    cossim = 11 / (25 * (1e-6 + 5 ** 0.5 / 5))   # lucid's cossim of the activations divided by 5
    assert dot_compare_scaled("L", 1, 0, 1)(pair([1, 2], [3, 4])).item() == pytest.approx(11 / 25 * cossim, rel=1e-6)
    assert dot_compare_scaled("L", 1, 0, 2)(pair([-1, 0], [3, 4])).item() == pytest.approx(-3 / 25 * 0.01, rel=1e-6)
    for k in (1e-4, 1e-7, 1e3):   # every activation times k: the same value
        assert dot_compare_scaled("L", 1, 0, 1)(pair([1, 2], [3, 4], k)).item() == pytest.approx(
            11 / 25 * cossim, rel=1e-4)
    assert dot_compare("L", 1, 0)(pair([1, 2], [3, 4], 1e-4)).item() == pytest.approx(11e-8, rel=1e-4)


def adam_trajectory(factory, k: float, steps: int = 30) -> torch.Tensor:
    """Return the images of `steps` Adam steps (lr 0.05) maximizing factory's objective of a fixed random
    convolution of [photo, image], whose output is multiplied by k."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, 3, 3, generator=g) / 6
    photo, x = torch.rand(1, 3, 8, 8, generator=g), torch.rand(1, 3, 8, 8, generator=g).requires_grad_(True)
    opt, obj, out = torch.optim.Adam([x], lr=0.05), factory("L", 1, 0), []
    for _ in range(steps):
        opt.zero_grad()
        (-obj({"L": k * torch.nn.functional.conv2d(torch.cat([photo, x]), w, padding=1)})).backward()
        opt.step()
        out.append(x.detach().clone())
    return torch.stack(out)


def test_dot_compare_scaled_gives_adam_the_same_steps_at_any_activation_scale():
    ref = adam_trajectory(dot_compare_scaled, 1)
    assert (ref[-1] - ref[0]).norm() > 10
    for k in (1e-4, 1e-7):
        assert torch.allclose(adam_trajectory(dot_compare_scaled, k), ref, atol=1e-5)
    # the plain dot's gradient scales with k²: at 1e-4 Adam's ε already bends the path, at 1e-7 it stalls
    plain = adam_trajectory(dot_compare, 1)
    assert torch.allclose(plain, ref, atol=1e-3)   # for activations of order 1 the two agree
    assert (adam_trajectory(dot_compare, 1e-4) - plain).abs().max() > 1
    stalled = adam_trajectory(dot_compare, 1e-7)
    assert (stalled[-1] - stalled[0]).norm() < 1e-3


def test_attribution_dot_cosine_power_and_accent_vs_numpy():
    a = acts()
    x = a["L"].numpy().astype(np.float64)
    attr = RNG.normal(size=x.shape[1:])
    dot = (x[2] * attr).sum()
    cos = (x[2] * x[0]).sum() / np.linalg.norm(x[2]) / np.linalg.norm(x[0])
    for p in (1, 2):
        assert attribution_dot("L", torch.tensor(attr), 2, 0, p)(a).item() == pytest.approx(
            dot * max(cos, 0.1) ** p, rel=1e-4)
    a["L"][2] = a["L"][0] * 2   # cosine 1: the factor is 1
    assert attribution_dot("L", torch.tensor(attr), 2, 0, 2)(a).item() == pytest.approx(
        (2 * x[0] * attr).sum(), rel=1e-4)
    a = acts()
    x = a["L"].numpy().astype(np.float64)
    dot = (x[2] * attr).sum()
    penalty = np.linalg.norm(attr) * ((x[2] - x[0]) ** 2).sum() / np.linalg.norm(x[0])
    assert attribution_accent("L", torch.tensor(attr), 2, 0, weight=0.5)(a).item() == pytest.approx(
        dot - 0.5 * penalty, rel=1e-4)
    with pytest.raises(ValueError, match="no cosine power"):
        attribution_accent("L", torch.tensor(attr), 2, 0, 1)


def test_attribution_accent_is_largest_half_the_photo_norm_away_along_attr():
    a = acts()
    attr = torch.from_numpy(RNG.normal(size=tuple(a["L"].shape[1:])).astype(np.float32))
    photo = a["L"][0]
    best = photo + attr * photo.norm() / (2 * attr.norm())   # the maximum for λ = 1
    a["L"][1] = best
    a["L"].requires_grad_(True)
    attribution_accent("L", attr, 1, 0)(a).backward()
    assert a["L"].grad[1].abs().max() < 1e-4 * attr.abs().max()
    assert (best - photo).norm().item() == pytest.approx(photo.norm().item() / 2, rel=1e-5)


def test_energy_reads_only_the_image_and_is_its_squared_norm():
    """DeepDream's ‖A‖²: the photo's row is not read (a photo-free baseline), so no original is forwarded."""
    import torch

    from caricatures.objectives import caricature_objective
    make = caricature_objective("energy")
    obj = make("block2", 3, 0, 0.0)
    (_, term), = obj.terms
    assert term.rows == (3,) and term.layer == "block2"
    a = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    assert float(term.fn({"block2": a})) == float((a[3] ** 2).sum())
    with pytest.raises(ValueError):
        make("block2", 1, 0, 1.0)
