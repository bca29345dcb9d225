"""Transforms: lucid's choice sets, exact pure shifts vs numpy, fast path vs sequential geometry, batch
alignment, the 0.5 fill, seeding."""
import numpy as np
import pytest
import torch

from caricatures.transforms import (
    PRESETS,
    Draw,
    Identity,
    RandomTransform,
    apply_affine,
    apply_sequential,
    build_transforms,
)

STD = PRESETS["standard"]


def ramps(s: int) -> torch.Tensor:
    """Channels x and y coordinates (bilinear resampling reproduces linear functions exactly) and a product."""
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) / s
    return torch.from_numpy(np.stack([x, y, x * y]))[None]


def test_standard_sets_are_lucids():
    assert STD.pad == 12 and STD.jitter == 8 and STD.jitter2 == 4
    np.testing.assert_allclose(STD.scales, np.arange(0.90, 1.1001, 0.02))
    assert sorted(set(STD.angles)) == list(range(-10, 11)) and STD.angles.count(0) == 6


def test_draws_cover_sets_and_are_seeded():
    t1, t2 = RandomTransform(STD, 32, seed=5), RandomTransform(STD, 32, seed=5)
    draws = [t1.draw() for _ in range(400)]
    assert draws == [t2.draw() for _ in range(400)]
    assert {d.scale for d in draws} == set(STD.scales)
    assert {o for d in draws for o in d.offset} == set(range(9))
    assert {o for d in draws for o in d.offset2} == set(range(5))
    zero = sum(d.angle == 0 for d in draws) / len(draws)
    assert 0.12 < zero < 0.35  # 6 of 26 entries are 0°


@pytest.mark.parametrize("fast", [True, False])
def test_pure_shift_equals_numpy_slicing(fast):
    s, rng = 20, np.random.default_rng(0)
    img = rng.random((2, 3, s, s)).astype(np.float32)
    draw = Draw((3, 7), 1.0, 0.0, (1, 4))
    padded = np.pad(img, ((0, 0), (0, 0), (12, 12), (12, 12)), constant_values=0.5)
    jittered = padded[..., 3:3 + s + 16, 7:7 + s + 16][..., 1:1 + s + 12, 4:4 + s + 12]
    ref = jittered[..., 6:6 + s, 6:6 + s]  # centred crop of (s + 12) back to s
    out = (apply_affine if fast else apply_sequential)(torch.from_numpy(img), STD, draw, (s, s))
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


def test_fast_path_matches_sequential_geometry():
    s = 48
    img, t = ramps(s), RandomTransform(STD, s, seed=1)
    interior = (slice(None), slice(0, 2), slice(14, 34), slice(14, 34))
    for _ in range(20):
        d = t.draw()
        a, b = apply_affine(img, STD, d, (s, s)), apply_sequential(img, STD, d, (s, s))
        np.testing.assert_allclose(a[interior].numpy(), b[interior].numpy(), atol=2e-5)
        assert (a - b).abs().mean() < 0.02  # borders differ only by the second interpolation


def test_rotation_and_scale_geometry_at_the_centre():
    s = 41
    img = ramps(s)
    out = apply_affine(img, STD, Draw((4, 4), 1.1, 10.0, (2, 2)), (s, s))
    # With centred offsets the centre pixel maps to the centre; a step along x maps to a rotated, shrunk step.
    c = s // 2
    jw = s + 16
    k = int(1.1 * jw)
    step = np.array([out[0, 0, c, c + 5] - out[0, 0, c, c], out[0, 1, c, c + 5] - out[0, 1, c, c]]) * s
    expect = 5 * jw / k * np.array([np.cos(np.radians(10)), np.sin(np.radians(10))])
    np.testing.assert_allclose(step, expect, atol=0.15)


def test_same_transform_for_every_image_in_the_batch():
    rng = np.random.default_rng(2)
    batch = torch.from_numpy(rng.random((3, 3, 24, 24)).astype(np.float32))
    t = RandomTransform(STD, 24, seed=0)
    d = t.draw()
    together = t(batch, d)
    for i in range(3):
        torch.testing.assert_close(together[i:i + 1], t(batch[i:i + 1], d))


def test_fill_is_half_outside_the_photo():
    zeros = torch.zeros(1, 3, 16, 16)
    out = apply_affine(zeros, STD, Draw((0, 0), 0.9, 10.0, (0, 0)), (16, 16))
    assert out[..., 0, 0].allclose(torch.tensor(0.5)) and out.min() == 0.0
    half = apply_affine(torch.full((1, 3, 16, 16), 0.5), STD, Draw((8, 0), 1.1, -7.0, (4, 1)), (16, 16))
    torch.testing.assert_close(half, torch.full_like(half, 0.5))


def test_identity_and_builder():
    x = torch.rand(2, 3, 10, 10)
    assert build_transforms(None, 10)(x) is x
    assert isinstance(build_transforms("none", 10), Identity)
    assert build_transforms("standard", 12, seed=0)(x).shape == (2, 3, 12, 12)
    with pytest.raises(ValueError, match="unknown transforms"):
        build_transforms("wobble", 10)
