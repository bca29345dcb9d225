"""Recipes: per-row Adam rates against a hand-computed Adam step, the coarse-to-fine spectrum embedding against
numpy's Fourier resampling, recipe "lucid" against the default, and recipes in runs and their keys."""
import numpy as np
import pytest
import torch

from caricatures import schedule
from caricatures.make import make_caricatures
from caricatures.param import fft_image
from caricatures.schedule import Rates, Recipe, RowAdam, embed_spectrum, row_rates
from sitegen.runs import ModelRef, Where, caricature, run_key
from tests.engine_models import tiny_model
from tests.test_render import LAYERS4, run


def _adam_by_hand(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam's update written out (Kingma & Ba, as torch computes it) in float64 numpy."""
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return p


def test_row_adam_gives_each_row_the_step_of_its_own_rate():
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 2, 4, 5, generator=gen)
    grads = [torch.randn(3, 2, 4, 5, generator=gen) for _ in range(3)]
    rates = torch.tensor([0.4, 0.1, 0.025])
    p = p0.clone().requires_grad_(True)
    opt = RowAdam([p], rates)
    for g in grads:
        opt.zero_grad()
        p.grad = g.clone()
        opt.step()
    for i, r in enumerate(rates.tolist()):
        want = _adam_by_hand(p0[i].double().numpy(), [g[i].double().numpy() for g in grads], r)
        np.testing.assert_allclose(p[i].detach().numpy(), want, rtol=0, atol=2e-6)
    # the first step moves every entry by its row's rate (m̂ / √v̂ = ±1 up to eps)
    q = p0.clone().requires_grad_(True)
    first = RowAdam([q], rates)
    q.grad = grads[0].clone()
    first.step()
    np.testing.assert_allclose((p0 - q.detach()).abs().amax((1, 2, 3)).numpy(), rates.numpy(), rtol=1e-5)


def test_row_rates_go_geometrically_from_the_first_stage_to_the_last():
    model = tiny_model()   # stages 0 (stem) … 3 (logits)
    assert row_rates(Recipe(), model, ["stem", "res"], 0.05) == 0.05                    # lucid: one float
    assert row_rates(Recipe(rates=(2.0, 2.0)), model, ["stem"], 0.05) == pytest.approx(0.1)
    r = row_rates(Recipe(rates=(8.0, 1.0)), model, ["stem", "down", "res", "logits", "stem"], 0.05)
    assert isinstance(r, Rates)
    np.testing.assert_allclose(r.rows.numpy(), 0.05 * np.array([8, 4, 2, 1, 8]), rtol=1e-6)
    assert isinstance(row_rates(Recipe(betas=(0.8, 0.99)), model, ["stem"], 0.05), Rates)


def _resample(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Fourier-resample a real signal along `axis` to n samples, the Nyquist bin split in halves."""
    m = x.shape[axis]
    X = np.moveaxis(np.fft.fft(x, axis=axis), axis, 0)
    Y = np.zeros((n, *X.shape[1:]), complex)
    pos = (m + 1) // 2
    Y[:pos], Y[n - (m - pos):] = X[:pos], X[pos:]
    if m % 2 == 0:
        Y[n - m // 2] /= 2
        Y[m // 2] = Y[n - m // 2]
    return np.moveaxis(np.fft.ifft(Y, axis=0).real * n / m, 0, axis)


@pytest.mark.parametrize("small,size", [(8, 16), (7, 21), (8, 12), (9, 16)])
def test_embedded_spectrum_draws_the_upsampled_image(small, size):
    coarse = fft_image(small, 2, sd=0.3, generator=torch.Generator().manual_seed(1))
    fine = embed_spectrum(coarse, size)
    logit = torch.logit
    with torch.no_grad():
        before, after = logit(coarse.image()).double().numpy(), logit(fine.image()).double().numpy()
    assert fine.tensors[0].shape == (2, 3, size, size // 2 + 1, 2) and fine.tensors[0].requires_grad
    # the colour map is linear per pixel, so the pre-sigmoid images resample as the signals do
    want = _resample(_resample(before, size, 2), size, 3)
    np.testing.assert_allclose(after, want, atol=2e-5)
    if size % small == 0:
        k = size // small
        np.testing.assert_allclose(after[..., ::k, ::k], before, atol=2e-5)


def test_one_rate_is_torchs_fused_adam():
    p = torch.zeros(2, 3, requires_grad=True)
    opt = schedule.adam([p], 0.05, [0, 1])
    assert type(opt) is torch.optim.Adam and opt.defaults["fused"] and opt.defaults["lr"] == 0.05
    assert opt.defaults["betas"] == schedule.BETAS
    rows = schedule.adam([p], Rates(torch.tensor([0.1, 0.2, 0.3])), [2, 0])
    assert isinstance(rows, RowAdam) and rows.rates[0].flatten().tolist() == pytest.approx([0.3, 0.1])


def test_each_row_follows_its_own_rate_in_any_stream_split():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rates = Rates(torch.tensor([0.2, 0.1, 0.05, 0.025]))
        one, two = (run(tiny_model(), LAYERS4, lr=rates, streams=k) for k in (1, 2))
        same = run(tiny_model(), LAYERS4, lr=Rates(torch.full((4,), 0.05)), streams=2)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one.images, two.images)
    np.testing.assert_allclose(two.images[2], same.images[2], atol=1e-6)   # the row whose rate is 0.05
    assert np.abs(two.images[[0, 1, 3]] - same.images[[0, 1, 3]]).max() > 1e-3


def test_recipe_lucid_is_the_default_and_others_change_pixels():
    photo = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    kw = {"steps": 4, "device": "cpu", "precision": "fp32"}
    default = make_caricatures(tiny_model(), photo, ["down", "res"], **kw)
    lucid = make_caricatures(tiny_model(), photo, ["down", "res"], recipe="lucid", **kw)
    np.testing.assert_array_equal(default.images, lucid.images)
    np.testing.assert_array_equal(default.history, lucid.history)
    assert default.settings["recipe"] == "lucid"
    for name in ("rows", "coarse"):
        other = make_caricatures(tiny_model(), photo, ["down", "res"], recipe=name, **kw)
        assert other.settings["recipe"] == name and other.history.shape == default.history.shape
        assert not np.array_equal(other.images, default.images)


def test_coarse_recipes_start_small_and_refuse_what_they_cannot_do():
    assert schedule.coarse_plan(schedule.recipe("coarse"), 128, 224) == (32, 112)
    assert schedule.coarse_plan(schedule.recipe("coarse"), 2, 224) == (0, 224)     # no room for a phase
    assert schedule.coarse_plan(schedule.recipe("lucid"), 128, 224) == (0, 224)
    assert schedule.shrink_transforms("standard", 0.5).pad == 6
    photo = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="param='fft'"):
        make_caricatures(tiny_model(), photo, ["res"], steps=8, param="pixel", recipe="coarse", device="cpu")
    with pytest.raises(ValueError, match="unknown recipe"):
        make_caricatures(tiny_model(), photo, ["res"], steps=8, recipe="fast", device="cpu")


def test_runs_take_a_recipe_and_lucid_keeps_the_default_key():
    lite0, cat, cpu = ModelRef("efficientnet_lite0"), "images/animals/cat.jpg", Where("cpu", "fp32", 1)
    plain = caricature(lite0, [cat], ["block1"], steps=3, size=32)
    assert caricature(lite0, [cat], ["block1"], steps=3, size=32, recipe="lucid") == plain
    rows = caricature(lite0, [cat], ["block1"], steps=3, size=32, recipe="rows")
    assert rows.options["recipe"] == "rows" and run_key(rows, cpu) != run_key(plain, cpu)
    with pytest.raises(ValueError, match="unknown recipe"):
        caricature(lite0, [cat], ["block1"], steps=3, size=32, recipe="fast")
