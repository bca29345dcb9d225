"""The training-data experiment: linear CKA against references, the IDX reader and Fashion-MNIST's files, the
dead-leaves generator, fine-tune runs (validation, determinism) and runs on their checkpoints (keys that follow
the weights, planning and computing in waves, standalone figures)."""
from __future__ import annotations

import gzip
import struct
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from caricatures.metrics import linear_cka
from sitegen.datasets import (
    SYNTHETIC_CLASSES,
    class_names,
    dead_leaves,
    fashion_mnist,
    read_idx,
    synthetic_batch,
)
from sitegen.executors import InProcess
from sitegen.finetune import checkpoint_model, checkpoint_sha256
from sitegen.runner import Speed, execute_plan, plan_runs, plan_table
from sitegen.runs import (
    ParentPending,
    Where,
    caricature,
    checkpoint_arrays,
    execute,
    finetune,
    finetuned,
    resolve,
    run_key,
)
from sitegen.runs.store import RunStore

FP32 = Where("cpu", "fp32", 1)
PHOTO = "images/animals/panda.jpg"


def _cka_reference(x: np.ndarray, y: np.ndarray) -> float:
    """The feature-space formula: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) of the column-centred matrices."""
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_cka_is_one_for_the_same_activations_and_for_a_rotation_of_them():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12)) @ rng.normal(size=(12, 12))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert linear_cka(x, x) == pytest.approx(1, abs=1e-12)
    assert linear_cka(x, 3 * x @ q) == pytest.approx(1, abs=1e-12)      # rotation and overall scale
    assert linear_cka(x, x + 5.0) == pytest.approx(1, abs=1e-12)        # centring removes an offset


def test_cka_of_independent_noise_is_near_zero_and_matches_the_feature_space_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 5))
    assert linear_cka(x, y) < 0.01
    a = rng.normal(size=(30, 7))
    b = a @ rng.normal(size=(7, 9)) + 0.5 * rng.normal(size=(30, 9))
    assert linear_cka(a, b) == pytest.approx(_cka_reference(a, b), rel=1e-10)
    images = rng.normal(size=(6, 3, 4, 4))                          # activations are flattened per example
    assert linear_cka(images, images[:, ::-1]) == pytest.approx(1, abs=1e-12)


def test_cka_refuses_different_example_counts():
    with pytest.raises(ValueError, match="same n"):
        linear_cka(np.zeros((4, 2)), np.zeros((5, 2)))


def _write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def test_idx_reader_reads_a_tiny_file_gzip_or_plain_and_refuses_a_bad_one(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", images)
    _write_idx(tmp_path / "b", images, compress=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), images)
    assert np.array_equal(read_idx(tmp_path / "b"), images)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\0" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes((tmp_path / "b").read_bytes()[:-1])
    with pytest.raises(ValueError, match="need 24 bytes"):
        read_idx(tmp_path / "short")


def fake_fashion(root: Path, n: int = 12) -> Path:
    """Write a tiny Fashion-MNIST (n train and n test images of 28×28, labels 0..9) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        _write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def test_fashion_mnist_reads_its_files_and_names_a_missing_one_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(fake_fashion(tmp_path / "fm")))
    images, labels = fashion_mnist("test")
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8 and labels.tolist() == list(range(10)) + [0, 1]
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"nowhere/train-images-idx3-ubyte.gz.*\./setup\.sh"):
        fashion_mnist("train")
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        finetune("efficientnet_lite0", "fashion-mnist", steps=2, batch=2, lr=0.01, size=32, seed=0,
                 checkpoints=[2], test=4)


def test_dead_leaves_are_deterministic_and_their_classes_differ():
    a, la = synthetic_batch(np.random.default_rng(3), 16, 32)
    b, lb = synthetic_batch(np.random.default_rng(3), 16, 32)
    assert np.array_equal(a, b) and np.array_equal(la, lb) and a.shape == (16, 32, 32, 3)
    assert not np.array_equal(a, synthetic_batch(np.random.default_rng(4), 16, 32)[0])
    assert len(class_names("dead-leaves")) == len(SYNTHETIC_CLASSES) == 10

    def edges(images: np.ndarray) -> float:   # how often a pixel differs from its right neighbour
        return float((images[:, :, 1:] != images[:, :, :-1]).any(-1).mean())

    small = [edges(dead_leaves(np.random.default_rng(5), np.full(8, c), 48)) for c in range(5)]
    large = [edges(dead_leaves(np.random.default_rng(5), np.full(8, c + 5), 48)) for c in range(5)]
    assert all(s > 1.5 * g for s, g in zip(small, large))            # small leaves: more edges than large
    discs, squares = (dead_leaves(np.random.default_rng(5), np.full(8, c), 48) for c in (5, 6))
    # squares have straight horizontal edges: a row equals the next more often than with discs
    same_rows = [float((x[:, 1:] == x[:, :-1]).all(-1).all(-1).mean()) for x in (discs, squares)]
    assert same_rows[1] > same_rows[0]


def tiny_finetune(seed: int = 0, steps: int = 2):
    return finetune("efficientnet_lite0", "dead-leaves", steps=steps, batch=2, lr=0.01, size=32, seed=seed,
                    checkpoints=[0, 1, steps], test=4)


def test_finetune_runs_are_validated():
    with pytest.raises(ValueError, match="unknown dataset"):
        finetune("efficientnet_lite0", "cifar", steps=2, batch=2, lr=0.01, size=32, seed=0, checkpoints=[2], test=4)
    with pytest.raises(ValueError, match="checkpoints"):
        finetune("efficientnet_lite0", "dead-leaves", steps=2, batch=2, lr=0.01, size=32, seed=0,
                 checkpoints=[3], test=4)
    with pytest.raises(ValueError, match="not a checkpoint"):
        finetuned(tiny_finetune(), 5)
    assert tiny_finetune().work == 4 and str(finetuned(tiny_finetune(), 2).label) == "finetune:dead-leaves@2"


def test_same_seed_same_weights_another_seed_other_weights_and_the_checkpoint_loads():
    first, prov = execute(tiny_finetune(), FP32)
    again, _ = execute(tiny_finetune(), FP32)
    other, _ = execute(tiny_finetune(seed=1), FP32)
    assert checkpoint_sha256(first, 2) == checkpoint_sha256(again, 2)
    assert checkpoint_sha256(first, 2) != checkpoint_sha256(other, 2)
    assert checkpoint_sha256(first, 1) != checkpoint_sha256(first, 2)
    assert first["loss"].shape == (2,) and first["accuracy"].shape == (3,) and prov["seconds"] > 0
    model = checkpoint_model("efficientnet_lite0", first, 2)
    assert model.layers["logits"].channels == 10
    head = f"w2:{len(model.stages) - 1}.fc.weight"
    assert np.array_equal(model.stages[-1].fc.weight.numpy(), first[head])


def test_a_childs_key_waits_for_its_parent_and_follows_its_weights(tmp_path):
    parent = tiny_finetune()
    child = caricature(finetuned(parent, 2), [PHOTO], ["block1"], steps=2, size=32, seed=0)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(ParentPending):
        run_key(child, FP32, store)
    arrays, prov = execute(parent, FP32)
    store.put(run_key(parent, FP32), parent.describe(), arrays, prov)
    key = run_key(child, FP32, store)
    assert resolve(child, FP32, store).model.stored[2] == checkpoint_sha256(arrays, 2)
    changed = {k: v + 1e-3 if k.startswith("w2:") else v for k, v in arrays.items()}
    other = RunStore(tmp_path / "other")
    other.put(run_key(parent, FP32), parent.describe(), changed, prov)
    assert run_key(child, FP32, other) != key
    assert run_key(replace(child, model=finetuned(parent, 1)), FP32, store) != key


def test_a_plan_with_a_finetune_and_its_caricatures_computes_in_waves(tmp_path):
    parent = tiny_finetune()
    children = [caricature(finetuned(parent, s), [PHOTO], ["block1"], steps=2, size=32, seed=0) for s in (0, 2)]
    script = SimpleNamespace(id="fig", path=tmp_path / "fig.py", runs=lambda: children)   # the parent: implied
    store = RunStore(tmp_path / "runs")
    plan = plan_runs([script], FP32, store)
    assert len(plan.runs) == 3 and len(plan.missing) == 3 and [p.run.kind for p in plan.ready] == ["finetune"]
    assert sum(p.key.startswith("pending:") for p in plan.runs.values()) == 2
    assert "3 distinct runs, 3 to make" in plan_table(plan, Speed(10.0, 20.0), 1)   # --plan counts the waiting ones
    execute_plan(plan, InProcess(), FP32, store)
    again = plan_runs([script], FP32, store)       # the parent is stored: the children have their keys at once
    assert not again.missing and len(again.runs) == 2
    assert all(store.has(k) for k in again.by_figure["fig"])
    results = [store.get(k)[0] for k in again.by_figure["fig"]]
    assert not np.array_equal(results[0]["images"], results[1]["images"])    # step 0 and step 2 differ


def test_a_standalone_figure_computes_the_parent_first(tmp_path):
    from sitegen.contract import FigureConfig
    parent = tiny_finetune()
    child = caricature(finetuned(parent, 2), [PHOTO], ["block1"], steps=2, size=32, seed=0)
    config = FigureConfig(cache_dir=tmp_path, where=FP32, compute=True)
    assert config.result(child)["images"].shape == (1, 1, 32, 32, 3)
    assert len(config.used) == 2


def test_a_checkpoint_shipped_with_the_job_loads_where_the_run_cache_is_not(tmp_path):
    """The Ray executor sends a checkpoint's arrays with the job: a worker needs no access to the run cache."""
    import queue
    import shutil

    from sitegen.executors import compute
    from sitegen.runs import checkpoints
    from sitegen.runs import run as run_mod
    parent = tiny_finetune()
    store = RunStore(tmp_path / "runs")
    arrays, prov = execute(parent, FP32)
    store.put(run_key(parent, FP32), parent.describe(), arrays, prov)
    child = resolve(caricature(finetuned(parent, 2), [PHOTO], ["block1"], steps=2, size=32, seed=0), FP32, store)
    want, _ = execute(child, FP32)
    shipped = checkpoint_arrays([child])
    assert list(shipped) == [child.model.stored[1]] and all(k.startswith("w2:") for k in shipped[child.model.stored[1]])
    shutil.rmtree(tmp_path / "runs")                        # the worker cannot read the cache any more
    run_mod._load.cache_clear()
    checkpoints.SHIPPED.clear()
    with pytest.raises(FileNotFoundError, match="not in"):
        execute(child, FP32)
    got = compute([child], FP32, "k", queue.Queue(), shipped)[0][0]
    assert np.array_equal(got["images"], want["images"])
    run_mod._load.cache_clear()
    checkpoints.SHIPPED.clear()


def test_the_drift_summary_the_text_quotes_is_computed_by_hand():
    from figures.training_drift import summarize
    cka = {"a": {"s10": {"b0": 0.99, "b1": 0.95, "b2": 0.8}, "s100": {"b0": 0.98, "b1": 0.85, "b2": 0.6}},
           "b": {"s10": {"b0": 1.0, "b1": 0.99, "b2": 0.95}, "s100": {"b0": 0.99, "b1": 0.97, "b2": 0.9}}}
    out = summarize(cka, ["b0", "b1", "b2"], [10, 100])
    assert out["drift_first"]["a"] == pytest.approx(0.02) and out["drift_last"]["b"] == pytest.approx(0.1)
    assert out["early_share"]["a"] == pytest.approx(0.2 / 0.4) and out["early_share"]["b"] == pytest.approx(0.5)
    assert out["early_share_by_layer"]["b"] == pytest.approx({"b0": 0.0, "b1": 1 / 3, "b2": 0.5})
    assert out["below_90"] == {"a": "b1", "b": None} and out["mid_layer"] == "b1"
    assert out["lowest_layer"]["a"] == "b2" and out["lowest"]["a"] == pytest.approx(0.6)
    assert (out["more_drift"], out["less_drift"], out["first_step"]) == ("a", "b", 10)


@pytest.mark.slow
def test_local_workers_read_the_checkpoint_from_the_run_cache_and_give_the_in_process_pixels(tmp_path):
    from sitegen.executors import Local
    parent = tiny_finetune()
    child = caricature(finetuned(parent, 2), [PHOTO], ["block1"], steps=2, size=32, seed=0)
    script = SimpleNamespace(id="fig", path=tmp_path / "fig.py", runs=lambda: [parent, child])
    pixels = []
    for name, executor in (("local", Local(1)), ("here", InProcess())):
        store = RunStore(tmp_path / name)
        try:
            execute_plan(plan_runs([script], FP32, store), executor, FP32, store)
        finally:
            executor.shutdown()
        key = plan_runs([script], FP32, store).by_figure["fig"][1]
        pixels.append(store.get(key)[0]["images"])
    assert np.array_equal(*pixels)


def test_dead_leaves_draw_every_image_anew_from_the_generator():
    """640 images from 20 batches of one generator are 640 different images (a generator that ignored its
    random state, or reseeded itself, repeated images: 531 distinct of 640 in the mutation that survived)."""
    rng = np.random.default_rng(0)
    images = np.concatenate([synthetic_batch(rng, 32, 24)[0] for _ in range(20)])
    assert len({im.tobytes() for im in images}) == 640
    same = synthetic_batch(np.random.default_rng(5), 8, 24)[0]
    assert np.array_equal(same, synthetic_batch(np.random.default_rng(5), 8, 24)[0])
    assert not np.array_equal(same, synthetic_batch(np.random.default_rng(6), 8, 24)[0])
