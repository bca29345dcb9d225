"""FFT parametrization vs a numpy reference of lucid's recipe; colour matrix; seeding."""
import numpy as np
import pytest
import torch

from caricatures.param import color_matrix, fft_image, freq_scale, image_param, pixel_image, to_rgb

LUCID = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


def numpy_freq_scale(h, w, decay):
    out = np.zeros((h, w // 2 + 1))
    for y in range(h):
        for x in range(w // 2 + 1):
            fy = (y if y <= (h - 1) // 2 else y - h) / h  # fftfreq by hand
            f = np.hypot(fy, x / w)
            out[y, x] = 1 / max(f, 1 / max(w, h)) ** decay
    return out


@pytest.mark.parametrize("h,w,decay", [(8, 8, 1.0), (7, 10, 1.0), (9, 5, 1.5)])
def test_freq_scale_matches_numpy(h, w, decay):
    np.testing.assert_allclose(freq_scale(h, w, decay).numpy(), numpy_freq_scale(h, w, decay), rtol=1e-6)


def test_color_matrix_normalized_by_largest_column_norm():
    m = color_matrix().numpy()
    assert np.linalg.norm(LUCID, axis=0).max() == pytest.approx(0.46195, abs=1e-5)
    np.testing.assert_allclose(m, LUCID / 0.4619524, rtol=1e-5)
    assert np.linalg.norm(m, axis=0).max() == pytest.approx(1.0, abs=1e-6)


def test_to_rgb_is_matrix_per_pixel_then_sigmoid():
    t = torch.randn(2, 3, 4, 5)
    ref = 1 / (1 + np.exp(-np.einsum("ij,bjhw->bihw", LUCID / 0.4619524, t.numpy())))
    np.testing.assert_allclose(to_rgb(t).numpy(), ref, rtol=1e-5, atol=1e-6)


def numpy_fft_image(spectrum: np.ndarray, h: int, w: int, decay: float) -> np.ndarray:
    """lucid's recipe in numpy: scaled spectrum × sqrt(w·h), irfft2 (which divides by h·w), /4, colour, sigmoid."""
    complex_spec = (spectrum[..., 0] + 1j * spectrum[..., 1]) * numpy_freq_scale(h, w, decay) * np.sqrt(w * h)
    t = np.fft.irfft2(complex_spec, s=(h, w)) / 4
    return 1 / (1 + np.exp(-np.einsum("ij,bjhw->bihw", LUCID / 0.4619524, t)))


@pytest.mark.parametrize("h,w", [(16, 16), (12, 9)])
def test_fft_image_matches_lucid_normalization(h, w):
    (spec,), image_fn = fft_image((h, w), batch=2, generator=torch.Generator().manual_seed(1))
    assert spec.shape == (2, 3, h, w // 2 + 1, 2)
    ref = numpy_fft_image(spec.detach().numpy(), h, w, 1.0)
    np.testing.assert_allclose(image_fn().detach().numpy(), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("decay", [0.5, 2.0])
def test_fft_image_and_image_param_use_decay_power(decay):
    # sd=0.3 so that the image is far from grey and the spectrum's scaling shows in every pixel.
    (spec,), image_fn = fft_image((12, 9), batch=2, sd=0.3, decay_power=decay,
                                  generator=torch.Generator().manual_seed(1))
    ref = numpy_fft_image(spec.detach().numpy(), 12, 9, decay)
    assert np.abs(ref - numpy_fft_image(spec.detach().numpy(), 12, 9, 1.0)).max() > 1e-2
    np.testing.assert_allclose(image_fn().detach().numpy(), ref, rtol=1e-4, atol=1e-6)
    (spec,), image_fn = image_param("fft", (12, 9), 2, seed=4, sd=0.3, decay_power=decay)
    np.testing.assert_allclose(image_fn().detach().numpy(), numpy_fft_image(spec.detach().numpy(), 12, 9, decay),
                               rtol=1e-4, atol=1e-6)


def test_fft_spectrum_is_normal_with_sd():
    (spec,), _ = fft_image(64, batch=4, sd=0.01, generator=torch.Generator().manual_seed(0))
    assert spec.detach().std().item() == pytest.approx(0.01, rel=0.05)
    assert abs(spec.detach().mean().item()) < 5e-4


def test_image_param_seeded_and_differentiable():
    a = image_param("fft", 16, 2, seed=3)
    b = image_param("fft", 16, 2, seed=3)
    c = image_param("fft", 16, 2, seed=4)
    assert torch.equal(a[1](), b[1]()) and not torch.equal(a[1](), c[1]())
    img = a[1]()
    assert img.shape == (2, 3, 16, 16) and 0 < img.min() and img.max() < 1
    img.sum().backward()
    assert a[0][0].grad is not None and torch.isfinite(a[0][0].grad).all()


def test_pixel_image_shape_and_unknown_kind():
    (px,), fn = pixel_image(8, 3, generator=torch.Generator().manual_seed(0))
    assert px.shape == (3, 3, 8, 8) and fn().shape == (3, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown parametrization"):
        image_param("wavelet", 8)


@pytest.mark.parametrize("kind", ["fft", "pixel"])
def test_param_rows_are_independent_copies(kind):
    full = image_param(kind, 16, 4, seed=2)
    params, image_fn = full
    part = full.rows([3, 1])
    assert torch.equal(part.image(), image_fn()[[3, 1]])
    assert part.tensors[0].is_leaf and part.tensors[0].requires_grad
    part.image().sum().backward()
    assert params[0].grad is None and part.tensors[0].grad is not None
    with torch.no_grad():
        part.tensors[0].add_(1.0)
    assert torch.equal(image_fn(), image_param(kind, 16, 4, seed=2).image())  # the original is untouched
