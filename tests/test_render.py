"""The optimization loop on a tiny model: planning, truncation and row dropping leave values and gradients
unchanged, the objective rises, runs are deterministic, non-finite values raise naming step and layer."""
import signal
import threading
import time

import numpy as np
import pytest
import torch

from generate.objectives import Objective, channel, dot_compare, objective
from generate.param import image_param
from generate.prepare import prepare_model
from generate.render import Runner, SharedOriginals, _Stopped, optimize, plan_batch, row_groups, to_numpy
from generate.transforms import build_transforms
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


def test_rejects_non_positive_steps():
    with pytest.raises(ValueError, match="steps must be positive"):
        run(tiny_model(), ["res"], steps=0)


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


def test_row_groups_keep_coupled_rows_together_and_balance():
    model = tiny_model()
    groups = row_groups(model, caricature_objective(LAYERS4), 1, 4, 2)
    assert len(groups) == 2 and sorted(r for g in groups for r in g) == [0, 1, 2, 3]
    assert {0, 1} not in [set(g) for g in groups]  # the two shallow rows are not put together
    pair = objective(lambda acts: acts["res"][1].sum() + acts["res"][4].sum(), "pair", "res", (1, 4))
    assert any({0, 3} <= set(g) for g in row_groups(model, caricature_objective(LAYERS4) + pair, 1, 4, 2))
    every_row = caricature_objective(LAYERS4) + channel("res", 0)
    assert row_groups(model, every_row, 1, 4, 2) == [[0, 1, 2, 3]]
    assert row_groups(model, caricature_objective(LAYERS4), 1, 4, 1) == [[0, 1, 2, 3]]
    assert len(row_groups(model, caricature_objective(LAYERS4[:1]), 1, 1, 2)) == 1


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_streams_change_nothing_but_speed(one_thread):
    """With one thread everywhere, rows optimized in two parallel streams end exactly as in one batch."""
    runs, params = [], []
    for streams in (1, 2):
        param = image_param("fft", 32, 4, seed=5)
        runs.append(optimize(tiny_model(), caricature_objective(LAYERS4), param,
                             build_transforms("standard", 32, 5), 6, originals=torch.rand(1, 3, 32, 32,
                             generator=torch.Generator().manual_seed(9)), precision="fp32",
                             snapshots=(0, 3, 6), streams=streams))
        params.append(param.tensors[0].detach().clone())
        with torch.no_grad():
            np.testing.assert_array_equal(to_numpy(param.image()), runs[-1].images)
    a, b = runs
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.history, b.history)
    for step in (0, 3, 6):
        np.testing.assert_array_equal(a.snapshots[step], b.snapshots[step])
    assert torch.equal(params[0], params[1])  # the caller's parametrization holds the result either way
    assert not np.array_equal(a.snapshots[0], a.images)


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


class CountingTransforms:
    """A transform that counts how often it is applied to the originals."""

    def __init__(self, inner, originals):
        self.inner, self.originals, self.on_originals, self.lock = inner, originals, 0, threading.Lock()

    def draw(self):
        return self.inner.draw()

    def __call__(self, x, draw=None):
        if x.data_ptr() == self.originals.data_ptr():
            with self.lock:
                self.on_originals += 1
        return self.inner(x, draw)


@pytest.mark.parametrize("streams", [1, 2, 4])
def test_streams_share_one_forward_pass_of_the_originals_per_step(streams):
    photo = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    transforms = CountingTransforms(build_transforms("standard", 32, 0), photo)
    out = optimize(tiny_model(), caricature_objective(LAYERS4), image_param("fft", 32, 4), transforms, 5,
                   originals=photo, precision="fp32", streams=streams)
    assert out.streams == streams
    assert transforms.on_originals == 5


def test_shared_originals_drop_each_step_once_read_and_stop_waiters_when_the_computer_fails():
    stop = threading.Event()
    shared = SharedOriginals(["stem"], 2, stop)
    calls = []
    for _ in range(2):
        got = shared.get(1, lambda: calls.append(1) or {"stem": torch.ones(1)})
        assert torch.equal(got["stem"], torch.ones(1))
    assert calls == [1] and shared.entries == {}

    started = threading.Event()

    def failing():
        started.set()
        time.sleep(0.2)
        stop.set()  # what a failing stream's thread does (render._run_streams)
        raise RuntimeError("boom")
    errors = []
    computer = threading.Thread(target=lambda: errors.append(pytest.raises(RuntimeError, shared.get, 2, failing)))
    computer.start()
    started.wait()
    with pytest.raises(_Stopped):
        shared.get(2, lambda: {"stem": torch.zeros(1)})
    computer.join()
    assert errors


def test_shared_originals_hold_a_stream_that_runs_too_far_ahead():
    shared = SharedOriginals(["stem"], 2, threading.Event(), ahead=3)
    computed = []

    def run_ahead():
        for step in range(1, 6):
            shared.get(step, lambda step=step: computed.append(step) or {"stem": torch.full((1,), step)})
    leader = threading.Thread(target=run_ahead)
    leader.start()
    time.sleep(0.3)
    assert computed == [1, 2, 3] and sorted(shared.entries) == [1, 2, 3]
    assert shared.get(1, None)["stem"].item() == 1  # the other stream reads step 1: the leader may go on
    time.sleep(0.3)
    assert computed == [1, 2, 3, 4]
    for step in (2, 3, 4):
        assert shared.get(step, None)["stem"].item() == step
    leader.join()
    assert shared.get(5, None)["stem"].item() == 5
    assert computed == [1, 2, 3, 4, 5] and shared.entries == {}


def test_an_interrupt_stops_every_stream_promptly():
    """Ctrl-C lands in the main thread while the streams run: they must stop at their next step."""
    steps, seen, workers = 400, [], set()

    def progress(step, _n, _v):
        seen.append(step)
        workers.add(threading.current_thread())
        if step == 2:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_model(), LAYERS4, steps=steps, streams=2, progress=progress)
    assert max(seen) < steps / 2
    assert workers and not any(t.is_alive() for t in workers)  # no stream left running


def test_streams_report_progress_in_order_and_name_the_bad_row():
    seen = []
    out = run(tiny_model(), LAYERS4, steps=5, streams=2, progress=lambda s, n, v: seen.append((s, n)))
    assert out.images.shape[0] == 4
    assert [s for s, _ in seen] == sorted({s for s, _ in seen}) and seen[-1] == (5, 5)
    params, _ = param = image_param("pixel", 32, 4)
    with torch.no_grad():
        params[0][2, 0, 3, 3] = float("nan")
    with pytest.raises(RuntimeError, match=r"step 1: image row 2 \(layer res\) has non-finite pixels"):
        optimize(tiny_model(), caricature_objective(LAYERS4), param, build_transforms(None, 32), 3,
                 originals=torch.rand(1, 3, 32, 32), precision="fp32", streams=2)
