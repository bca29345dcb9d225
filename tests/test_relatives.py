"""The caricature's relatives: their objectives against numpy on small tensors, the magnitude-constrained (MaCo)
and photo-initialized parametrizations, the run settings that name them, and the relatives figure's measures."""
import numpy as np
import pytest
import torch

from caricatures.objectives import (
    accentuation,
    caricature_objective,
    dot_cossim,
    dot_power,
    orthogonal_penalty,
    signed_pow,
)
from caricatures.param import from_images, from_rgb, image_param, maco_image, magnitude_of, to_rgb
from figures._measures import pixel_correlation, spread_over_seeds

RNG = np.random.default_rng(3)


def acts(n=3, c=4, h=5, w=6, layers=("L",)):
    return {name: torch.from_numpy(RNG.normal(size=(n, c, h, w)).astype(np.float32)) for name in layers}


def aligned(a, name="L", k=0.7):
    """Make row 1 point mostly along row 0 (a positive dot, above every floor)."""
    a[name][1] = a[name][0] * k + a[name][1] * (1 - k)
    return a


def np_rows(a, name="L"):
    return a[name][1].numpy().astype(np.float64).ravel(), a[name][0].numpy().astype(np.float64).ravel()


@pytest.mark.parametrize("p", [0, 1, 2])
def test_dot_cossim_uses_the_true_cosine(p):
    a = aligned(acts())
    x, y = np_rows(a)
    dot = x @ y
    cos = dot / (np.linalg.norm(x) * np.linalg.norm(y))
    assert dot_cossim("L", 1, 0, p)(a).item() == pytest.approx(dot * max(0.1, cos) ** p, rel=1e-4)
    a["L"][1] = -a["L"][0]                                             # reversed: the 0.1 floor
    x, y = np_rows(a)
    assert dot_cossim("L", 1, 0, 2)(a).item() == pytest.approx((x @ y) * 0.01, rel=1e-4)


@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_dot_power_puts_the_exponent_on_the_dot(power):
    a = aligned(acts())
    x, y = np_rows(a)
    dot = x @ y
    want = max(0.1, dot / np.linalg.norm(y)) * dot ** power
    assert dot_power("L", 1, 0, power)(a).item() == pytest.approx(want, rel=1e-4)


def test_dot_power_of_a_negative_dot_stays_finite_and_increasing():
    assert signed_pow(torch.tensor([-4.0, 0.0, 9.0]), 0.5).tolist() == [-2.0, 0.0, 3.0]
    a = acts()
    a["L"][1] = -a["L"][0]
    x, y = np_rows(a)
    value = dot_power("L", 1, 0, 0.5)(a).item()
    assert np.isfinite(value) and value == pytest.approx(0.1 * -np.sqrt(-(x @ y)), rel=1e-4)


def test_orthogonal_penalty_matches_numpy_and_spares_the_photo_direction():
    a = aligned(acts())
    x, y = np_rows(a)
    perp = x - (x @ y) / (y @ y) * y
    want = x @ y - 0.5 * perp @ perp
    assert orthogonal_penalty("L", 1, 0, 0.5)(a).item() == pytest.approx(want, rel=1e-4)
    a["L"][1] = 3 * a["L"][0]                                          # along the photo: no penalty
    assert orthogonal_penalty("L", 1, 0, 1.0)(a).item() == pytest.approx(3 * y @ y, rel=1e-4)


def test_accentuation_is_gain_times_cosine_minus_the_relative_pull():
    a = aligned(acts(layers=("L", "R")))
    a = aligned(a, "R", 0.9)
    x, y = np_rows(a)
    u, v = np_rows(a, "R")
    cos = (x @ y) / (np.linalg.norm(x) * np.linalg.norm(y))
    want = (x @ y) / (y @ y) * cos - 2.0 * ((u - v) @ (u - v)) / (v @ v)
    obj = accentuation("L", 1, 0, reg_layer="R", weight=2.0)
    assert obj(a).item() == pytest.approx(want, rel=1e-4)
    assert obj.layers == ["L", "R"] and len(obj.terms) == 2
    a["L"][1], a["R"][1] = a["L"][0], a["R"][0]                        # at the photo: gain 1, cosine 1, no pull
    assert obj(a).item() == pytest.approx(1.0, rel=1e-5)


def test_named_objectives_check_their_arguments():
    assert caricature_objective("dot_compare").__name__ == "dot_compare"
    made = caricature_objective("orthogonal_penalty", weight=2.0)
    assert made.__name__ == "orthogonal_penalty" and "weight=2" in made("L", 1, 0, 0.0).name
    with pytest.raises(ValueError, match="unknown caricature objective 'nope'"):
        caricature_objective("nope")
    with pytest.raises(ValueError, match="bad arguments"):
        caricature_objective("dot_power", weight=1.0)
    with pytest.raises(ValueError, match="takes no cossim_pow"):
        caricature_objective("dot_power", power=1.0)("L", 1, 0, 2.0)


def test_from_rgb_inverts_to_rgb():
    t = torch.randn(2, 3, 5, 7)
    torch.testing.assert_close(from_rgb(to_rgb(t)), t, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("kind", ["fft", "pixel"])
@pytest.mark.parametrize("h,w", [(16, 16), (12, 9)])
def test_a_photo_initialized_image_starts_as_the_photo(kind, h, w):
    photos = torch.from_numpy(RNG.uniform(0, 1, size=(2, 3, h, w)).astype(np.float32))
    photos[0, 0, 0, 0], photos[1, 2, 3, 4] = 0.0, 1.0               # saturated pixels come back clamped
    param = from_images(kind, photos)
    image = param.image().detach()
    np.testing.assert_allclose(image.numpy(), photos.clamp(1e-3, 1 - 1e-3).numpy(), atol=2e-5)
    assert np.abs(image.numpy() - photos.numpy()).max() <= 1e-3 + 2e-5
    assert all(t.requires_grad and t.is_leaf for t in param.tensors)
    part = param.rows([1]).image().detach()                            # the engine's row split keeps the start
    np.testing.assert_allclose(part.numpy(), image[1:].numpy(), atol=1e-6)


def test_maco_keeps_the_magnitude_while_the_phase_moves():
    h = w = 16
    mag = torch.from_numpy(RNG.uniform(0.5, 3, size=(3, h, w // 2 + 1)).astype(np.float32))
    param = maco_image(h, 2, magnitude=mag, generator=torch.Generator().manual_seed(0))
    (phase,) = param.tensors
    before = param.image().detach()
    opt = torch.optim.Adam([phase], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (-param.image()[:, 0].mean()).backward()
        opt.step()
    after = param.image().detach()
    assert (after - before).abs().max() > 1e-3
    assert float(after.min()) >= 0 and float(after.max()) <= 1
    for img in (before, after):   # every bin that need not be real or paired keeps its magnitude exactly
        spectrum = torch.fft.rfft2(from_rgb(img, eps=1e-7), norm="ortho").abs()
        np.testing.assert_allclose(spectrum[..., 1:w // 2].numpy(), mag.expand_as(spectrum)[..., 1:w // 2].numpy(),
                                   rtol=2e-3, atol=2e-3)


def test_maco_magnitude_of_photos_and_image_param_seeding():
    photos = torch.from_numpy(RNG.uniform(0.1, 0.9, size=(3, 3, 8, 8)).astype(np.float32))
    want = np.mean([np.abs(np.fft.rfft2(from_rgb(photos[i:i + 1]).numpy()[0], norm="ortho")) for i in range(3)], 0)
    np.testing.assert_allclose(magnitude_of(photos).numpy(), want, rtol=1e-4, atol=1e-5)
    mag = magnitude_of(photos)
    a = image_param("maco", 8, 2, seed=4, magnitude=mag).image()
    b = image_param("maco", 8, 2, seed=4, magnitude=mag).image()
    c = image_param("maco", 8, 2, seed=5, magnitude=mag).image()
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="magnitude shape"):
        image_param("maco", 10, 1, magnitude=mag)


def test_pixel_correlation_and_spread_over_seeds_match_numpy():
    a, b, c = (RNG.uniform(0, 1, size=(6, 6, 3)) for _ in range(3))
    assert pixel_correlation(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], rel=1e-9)
    assert pixel_correlation(a, 2 * a + 1) == pytest.approx(1.0)
    s = spread_over_seeds([a, b, c], [0.5, 0.7, 0.6], [1.0, 2.5, 1.5])
    assert s["cosine_range"] == pytest.approx(0.2) and s["gain_range"] == pytest.approx(1.5)
    pairs = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in ((a, b), (a, c), (b, c))]
    assert s["seed_pixel_r"] == pytest.approx(np.mean(pairs), rel=1e-9)
    with pytest.raises(ValueError, match="≥ 2"):
        spread_over_seeds([a], [0.5], [1.0])


def test_runs_name_objectives_starts_and_maco_in_their_keys():
    from sitegen.runs import ModelRef, Where, caricature, run_key
    model, photos, where = ModelRef("efficientnet_lite0"), ["images/animals/panda.jpg"], Where()
    plain = caricature(model, photos, ["block4"], steps=4)
    named = caricature(model, photos, ["block4"], steps=4, objective="dot_compare", init="noise")
    assert run_key(plain, where) == run_key(named, where)            # the defaults' names change no key
    orth = [caricature(model, photos, ["block4"], steps=4, objective="orthogonal_penalty",
                       objective_args={"weight": w}) for w in (1.0, 2.0)]
    keys = {run_key(r, where) for r in [plain, *orth,
                                        caricature(model, photos, ["block4"], steps=4, init="photo"),
                                        caricature(model, photos, ["block4"], steps=4, param="maco")]}
    assert len(keys) == 5
    assert dict(orth[1].options["objective_args"]) == {"weight": 2.0}
    with pytest.raises(ValueError, match="unknown caricature objective"):
        caricature(model, photos, ["block4"], steps=4, objective="nope")
    with pytest.raises(ValueError, match="takes no cossim_pow"):
        caricature(model, photos, ["block4"], steps=4, objective="dot_power", cossim_pow=2.0)
    with pytest.raises(ValueError, match="without an objective"):
        caricature(model, photos, ["block4"], steps=4, objective_args={"weight": 1.0})
    with pytest.raises(ValueError, match="init 'photo' needs param"):
        caricature(model, photos, ["block4"], steps=4, init="photo", param="maco")


def test_make_caricatures_from_the_photo_sums_an_objectives_terms():
    from caricatures.images import IMAGES_DIR, load_photo
    from caricatures.make import make_caricatures
    from figures._common import model_for
    photo = load_photo(IMAGES_DIR / "animals/panda.jpg", 32)
    made = caricature_objective("accentuation", reg_layer="block0", weight=1.0)
    out = make_caricatures(model_for("efficientnet_lite0"), photo, ["block2"], steps=1, size=32, lr=1e-4,
                           objective=made, init="photo", device="cpu", precision="fp32")
    assert np.abs(out.images[0, 0] - photo.permute(1, 2, 0).numpy()).max() < 0.02   # one tiny step from the photo
    assert out.history.shape == (1, 1, 1) and out.settings["objective"] == "accentuation"
    assert out.metrics[0][0]["objective"] == pytest.approx(1.0, abs=0.05)            # gain·cos ≈ 1, pull ≈ 0
    assert out.settings["init"] == "photo"


@pytest.mark.slow
def test_the_quick_relatives_figure_has_every_variant_in_every_cell_and_its_measures(tmp_path):
    from figures import relatives
    from sitegen.contract import FigureConfig
    spec = relatives.SPEC.resolved(True)
    result = relatives.make(spec, FigureConfig(quick=True, cache_dir=tmp_path, compute=True))
    data, metrics = result.data, result.metrics
    keys = [o["key"] for o in data["options"]]
    assert keys == [k for k, _, _ in relatives.VARIANTS] and len(runs := relatives.runs(spec)) == 8 * 2
    assert len({r.settings for r in runs}) == len(runs)                  # every variant and seed its own run
    for photo in data["photos"]:
        for layer in data["layers"]:
            cells = data["cells"][photo["key"]][layer["key"]]
            assert list(cells) == keys and all(c["label"].startswith("seen as: ") for c in cells.values())
            assert all(c["tile"] in result.tiles["caricatures"] for c in cells.values())
    accent, p0 = metrics["accent"], metrics["p0"]
    assert accent["pixel_r"] > 0.9 > p0["pixel_r"] and accent["cosine"] > 0.9    # it starts at the photo
    assert accent["seed_pixel_r"] > 0.99          # only the transforms depend on the seed
    assert metrics["most_pixel_r"] == "accent" and metrics["magnitude_photos"] > 50
    assert [v["key"] for v in metrics["variants"]] == keys
