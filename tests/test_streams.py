"""Row streams on a tiny model: groups keep coupled rows together, parallel streams change no pixel (with one
thread), share one forward pass of the photo per step, stop together on an error or Ctrl-C."""
import signal
import threading
import time

import numpy as np
import pytest
import torch

from caricatures.objectives import channel, objective
from caricatures.param import image_param
from caricatures.render import optimize, row_groups, to_numpy
from caricatures.streams import SharedOriginals, Stopped
from caricatures.transforms import build_transforms
from tests.engine_models import tiny_model
from tests.test_render import LAYERS4, caricature_objective, run


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
        stop.set()  # what a failing stream's thread does (streams.run_streams)
        raise RuntimeError("boom")
    errors = []
    computer = threading.Thread(target=lambda: errors.append(pytest.raises(RuntimeError, shared.get, 2, failing)))
    computer.start()
    started.wait()
    with pytest.raises(Stopped):
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
