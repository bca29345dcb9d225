"""The optimization loop on a tiny model: planning, truncation and row dropping leave values and gradients
unchanged, the objective rises, runs are deterministic, the photo goes through each step's transform with the
images, non-finite values raise naming step and layer."""
import numpy as np
import pytest
import torch

from caricatures.forward import Runner, plan_batch
from caricatures.objectives import Objective, channel, dot_compare, objective
from caricatures.param import image_param
from caricatures.prepare import prepare_model
from caricatures.render import optimize
from caricatures.transforms import build_transforms
from tests.engine_models import tiny_model


def caricature_objective(layers, n_orig=1):
    terms = [dot_compare(name, n_orig + i, 0) for i, name in enumerate(layers)]
    return Objective([t for o in terms for t in o.terms])


def test_plan_orders_rows_shallowest_first_and_counts_alive():
    model = tiny_model()
    plan = plan_batch(model, caricature_objective(["stem", "res", "down", "res.branch"]), 1, 4)
    assert plan.order == [0, 2, 1, 3]
    assert plan.alive == [4, 3, 2]
    assert plan.row_layer == ["stem", "res", "down", "res.branch"]
    assert plan.original_layers == ["stem", "res", "down", "res.branch"]
    with pytest.raises(ValueError, match="reads row 5"):
        plan_batch(model, dot_compare("res", 5, 0), 1, 4)


def test_dropping_rows_keeps_values_and_gradients():
    model = prepare_model(tiny_model())
    layers = ["stem", "down", "res.branch", "res"]  # rows already shallowest first
    plan = plan_batch(model, caricature_objective(layers), 1, 4)
    x = torch.rand(4, 3, 32, 32)
    grads = []
    for alive in (plan.alive, None):
        xi = x.clone().requires_grad_(True)
        out = Runner(model, layers)(xi, layers, alive)
        loss = sum((out[name][-(len(layers) - i)] ** 2).sum() for i, name in enumerate(layers))
        loss.backward()
        grads.append(xi.grad)
        if alive is not None:
            assert [out[n].shape[0] for n in layers] == [4, 3, 2, 2]
    torch.testing.assert_close(grads[0], grads[1])


def run(model, layers, steps=6, seed=0, **kw):
    photo = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    param = image_param("fft", 32, len(layers), seed=seed)
    return optimize(model, caricature_objective(layers), param, build_transforms("standard", 32, seed), steps,
                    originals=photo, precision="fp32", **kw)


def test_objective_rises_and_snapshots():
    out = run(tiny_model(), ["down", "res"], steps=30, snapshots=(0, 10, 30), lr=0.1)
    assert out.images.shape == (2, 32, 32, 3) and out.history.shape == (30, 2)
    assert (out.history[-5:].mean(0) > out.history[:5].mean(0)).all()
    assert sorted(out.snapshots) == [0, 10, 30]
    np.testing.assert_array_equal(out.snapshots[30], out.images)


def test_same_seed_same_pixels():
    a, b = run(tiny_model(), ["stem", "res"], seed=3), run(tiny_model(), ["stem", "res"], seed=3)
    c = run(tiny_model(), ["stem", "res"], seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_nan_objective_names_step_and_layer():
    model = tiny_model()
    calls = []

    def fn(acts):
        calls.append(1)
        return acts["down"][0].sum() * (float("nan") if len(calls) >= 3 else 1.0)

    bad = channel("res", 0, 0) + objective(fn, "exploding", "down", (0,))
    with pytest.raises(RuntimeError, match=r"step 3: objective term exploding at layer down is nan"):
        optimize(model, bad, image_param("fft", 32, 1), build_transforms(None, 32), 5, precision="fp32")


def test_nan_image_names_step_and_layer():
    params, image_fn = image_param("pixel", 32, 2)
    with torch.no_grad():
        params[0][1, 0, 3, 3] = float("nan")
    with pytest.raises(RuntimeError, match=r"step 1: image row 1 \(layer res\) has non-finite pixels"):
        optimize(tiny_model(), caricature_objective(["down", "res"]), (params, image_fn),
                 build_transforms(None, 32), 2, originals=torch.rand(1, 3, 32, 32), precision="fp32")


def test_row_order_does_not_matter():
    model, photo = tiny_model(), torch.rand(1, 3, 32, 32)
    (spec,), _ = image_param("fft", 32, 2, seed=1)
    results = []
    for layers, rows in ((["stem", "res"], [0, 1]), (["res", "stem"], [1, 0])):
        params, image_fn = image_param("fft", 32, 2)
        with torch.no_grad():
            params[0].copy_(spec[rows])
        out = optimize(model, caricature_objective(layers), (params, image_fn), build_transforms("standard", 32, 0),
                       4, originals=photo, precision="fp32")
        results.append(out.images[rows])
    np.testing.assert_allclose(results[0], results[1], atol=1e-5)


LAYERS4 = ["stem", "down", "res", "res.branch"]


@pytest.mark.parametrize("streams", [1, 2, 4])
def test_the_photo_and_the_images_share_each_steps_transform(streams):
    """lucid transforms the whole batch [photo, images…] with one draw per step. Here every image is the photo
    itself and stays so (lr=0), so at every step and layer each image's activations must equal the photo's."""
    photo_param = image_param("pixel", 32, 1, seed=2, sd=2.0)     # high contrast: any shift shows
    param = image_param("pixel", 32, 4)
    with torch.no_grad():
        param.tensors[0].copy_(photo_param.tensors[0].expand(4, -1, -1, -1))
        photo = photo_param.image()
    seen = []

    def same_as_photo(layer, row):
        def fn(acts):
            seen.append((layer, acts[layer][0].detach().clone(), acts[layer][row].detach().clone()))
            return (acts[layer][row].float() * acts[layer][0].float()).sum()
        return objective(fn, f"same_as_photo({layer}, {row})", layer, (row, 0))
    terms = [same_as_photo(name, 1 + i) for i, name in enumerate(LAYERS4)]
    out = optimize(tiny_model(), Objective([t for o in terms for t in o.terms]), param,
                   build_transforms("standard", 32, 0), 6, originals=photo, lr=0.0, precision="fp32",
                   streams=streams)
    assert out.streams == streams and len(seen) == 6 * len(LAYERS4)
    for layer, of_photo, of_image in seen:
        torch.testing.assert_close(of_image, of_photo, rtol=1e-5, atol=1e-5, msg=lambda m, n=layer: f"{n}: {m}")
