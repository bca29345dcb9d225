"""Any nn.Module as a Model (caricatures.models.adapter.adapt) and the API on top of it (list_layers,
caricature): a small CNN and a small vision transformer written here, efficientnet-pytorch's EfficientNet-B0,
efficientnet-lite-pytorch's Lite0 with the real weights against the built-in Lite0, the built-in Lite0's own
network through the generic path, truncation of the forward pass (counted module by module), unknown layer
names and the choice of preprocessing."""
from __future__ import annotations

import threading
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from caricatures.api import caricature, list_layers
from caricatures.images import load_photo
from caricatures.models.adapter import IMAGENET_MEAN, IMAGENET_STD, Normalize, adapt
from tests.own_models import CNN_ORDER, LITE_MEAN, LITE_STD, SmallViT, small_cnn

PANDA = "images/animals/panda.jpg"
FP32 = {"device": "cpu", "precision": "fp32"}


@pytest.fixture
def one_thread():
    """Run a caricature on one intra-op thread: on 2 cores busy with other jobs, two OpenMP threads wait on
    each other (measured: a B0 step at 64 px took 1.2 s on two threads, 0.015 s on one). Another thread
    count sums in another order, so pixels may round differently: each test compares runs on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def count_runs(module: nn.Module, when=lambda: True) -> tuple[Counter, list]:
    """Count how often each named submodule starts running (a forward pre-hook; hooks survive the deep copy
    that prepare_model makes, so the prepared copy's runs are counted too), while when() holds."""
    counts, lock = Counter(), threading.Lock()

    def hook(name):
        def count(_m, _args):
            if when():
                with lock:
                    counts[name] += 1
        return count
    handles = [m.register_forward_pre_hook(hook(name)) for name, m in module.named_modules() if name]
    return counts, handles


def remove(handles) -> None:
    for h in handles:
        h.remove()


# ---------------------------------------------------------------- 1. a small CNN


def test_small_cnn_layers_shapes_and_list_layers(capsys):
    net = small_cnn()
    names = list_layers(net, input_size=40)
    out = capsys.readouterr().out
    assert names == CNN_ORDER                      # execution order; the shared ReLU (run twice) is no layer
    assert out.splitlines()[0] == "SmallCNN: 6 layers at 40 px"
    assert "  conv1   (8, 40, 40)" in out and "  conv2   (16, 20, 20)" in out and "  fc      (10,)" in out
    assert list_layers(net, print_=False, input_size=40) == CNN_ORDER and capsys.readouterr().out == ""

    model = adapt(net, input_size=40)
    assert [model.shape(n) for n in CNN_ORDER] == [(8, 40, 40), (8, 40, 40), (16, 20, 20), (16, 1, 1), (10,),
                                                   (10,)]
    assert model.shape("conv2", 64) == (16, 32, 32)   # at another size: measured by a forward pass
    assert model.layer("conv2").channels == 16 and model.layer("conv2").stride == 2
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    acts = model.activations(x, ["conv2", "bn1"])
    with torch.no_grad():
        pre = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        want_bn1 = net.bn1(net.conv1(pre))
        want_conv2 = net.conv2(torch.relu(want_bn1))
    assert acts["bn1"].shape == (2, 8, 40, 40) and acts["conv2"].shape == (2, 16, 20, 20)
    torch.testing.assert_close(acts["bn1"], want_bn1, rtol=0, atol=0)
    torch.testing.assert_close(acts["conv2"], want_conv2, rtol=0, atol=0)


@pytest.mark.usefixtures("one_thread")
def test_small_cnn_caricature_at_first_conv():
    photo = load_photo(PANDA, 64)
    r = caricature(small_cnn(), photo, "conv1", input_size=64, steps=128, seed=0, **FP32)   # gain 1.22
    assert r.images.shape == (1, 1, 64, 64, 3) and np.isfinite(r.images).all()
    assert r.settings["model"] == "SmallCNN" and r.settings["weights"] == "custom"
    assert r.metrics[0][0]["gain"] > 1.0 and r.metrics[0][0]["cosine"] > 0.5


# ---------------------------------------------------------------- 2. a small vision transformer


def small_vit() -> SmallViT:
    torch.manual_seed(0)
    return SmallViT()


def test_small_vit_token_layers():
    model = adapt(small_vit(), input_size=32)
    blocks = [n for n in model.layers if n.startswith("blocks.") and n.count(".") == 1]
    assert blocks == ["blocks.0", "blocks.1"]
    assert model.shape("blocks.0") == model.shape("blocks.1") == (17, 32)   # 16 patches + class token, 32 ch
    assert model.shape("patch_embed") == (32, 4, 4) and model.shape("norm") == (17, 32)
    assert model.layer("blocks.0").channels == 32
    assert "blocks.0.attn" not in model.layers          # returns a tuple: not an activation
    order = list(model.layers)
    assert order.index("patch_embed") < order.index("blocks.0.norm1") < order.index("blocks.0") \
        < order.index("blocks.1") < order.index("norm") < order.index("head")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert model.activations(x, ["blocks.0"])["blocks.0"].shape == (3, 17, 32)


@pytest.mark.usefixtures("one_thread")
def test_small_vit_caricature_at_block0():
    photo = load_photo(PANDA, 32)
    r = caricature(small_vit(), photo, ["blocks.0"], input_size=32, steps=128, lr=0.1, seed=0, **FP32)  # 1.25
    assert r.images.shape == (1, 1, 32, 32, 3) and np.isfinite(r.images).all()
    assert r.metrics[0][0]["gain"] > 1.0


# ---------------------------------------------------------------- 3 and 6. EfficientNet-B0 (efficientnet-pytorch)


@pytest.fixture(scope="module")
def b0():
    from efficientnet_pytorch import EfficientNet
    torch.manual_seed(0)
    return adapt(EfficientNet.from_name("efficientnet-b0"), input_size=64, weights="random")


def test_b0_layers(b0):
    assert len(b0.layers) > 40
    assert {"_conv_stem", "_blocks.0", "_blocks.2", "_blocks.15", "_conv_head", "_fc", "output"} <= set(b0.layers)
    assert b0.shape("_blocks.2") == (24, 16, 16) and b0.shape("_blocks.15") == (320, 2, 2)
    assert "_swish" not in b0.layers and "_blocks.2._swish" not in b0.layers   # run several times per forward
    assert b0.meta["preprocess"].startswith("default: ImageNet")


@pytest.mark.usefixtures("one_thread")
def test_b0_caricature_at_an_early_block(b0):
    r = caricature(b0, load_photo(PANDA, 64), ["_blocks.2"], steps=64, lr=0.1, seed=0, **FP32)   # gain 1.33
    assert np.isfinite(r.images).all() and r.metrics[0][0]["gain"] > 1.0


def test_unknown_layer_names_the_closest(b0):
    model = adapt(small_cnn(), input_size=32)
    calls = [lambda: model.layer("conv3"),
             lambda: caricature(model, torch.rand(3, 32, 32), ["conv3"], steps=1, **FP32),
             lambda: caricature(small_cnn(), torch.rand(3, 32, 32), "conv3", input_size=32, steps=1, **FP32)]
    for call in calls:
        with pytest.raises(KeyError) as err:
            call()
        msg = str(err.value)
        assert "unknown layer 'conv3' for SmallCNN" in msg and "conv1" in msg and "conv2" in msg, msg
    with pytest.raises(KeyError) as err:                        # many layers: the closest few only
        b0.layer("_blocks.2.bn1")
    msg = str(err.value)
    assert "did you mean" in msg and "_blocks.2._bn1" in msg and len(msg) < 400, msg
    assert str(len(b0.layers)) in msg and "_conv_head" not in msg     # not every name
    with pytest.raises(KeyError, match="did you mean"):
        caricature(b0, torch.rand(3, 64, 64), ["_block.2"], steps=1, **FP32)


# ---------------------------------------------------------------- 5. truncation


def test_adapted_module_stops_right_after_the_requested_layer():
    net = small_cnn()
    model = adapt(net, input_size=32)
    counts, handles = count_runs(net)
    try:
        x = torch.rand(2, 3, 32, 32)
        out = model.activations(x, ["conv2"])
        assert out["conv2"].shape == (2, 16, 16, 16)
        # The shared ReLU ran once (after bn1), not after conv2; nothing after conv2 ran.
        assert counts == Counter({"conv1": 1, "bn1": 1, "act": 1, "conv2": 1})
        counts.clear()
        model.activations(x, ["bn1", "conv1"])
        assert counts == Counter({"conv1": 1, "bn1": 1})
    finally:
        remove(handles)


def sequential_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        stem=nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
        body=nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU()),
        head=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))))


def test_sequential_is_split_into_stages():
    net = sequential_net()
    model = adapt(net, input_size=32)
    assert len(model.stages) == 3 and all(a is b for a, b in zip(model.stages, net.children()))
    assert [model.layer(n).stage for n in ("stem.0", "stem", "body.1", "body", "head.2", "head")] == [0, 0, 1, 1,
                                                                                                       2, 2]
    assert model.layer("body").module is None and model.layer("body.1").module == "1"   # stage end; inside
    assert model.meta["stage_ends"] == ["stem", "body", "head"]
    assert list(model.layers)[:5] == ["stem.0", "stem.1", "stem.2", "stem", "body.0"]
    assert model.shape("body") == (16, 16, 16) and model.shape("head") == (10,)


def test_sequential_stops_after_the_deepest_requested_stage():
    net = sequential_net()
    model = adapt(net, input_size=32)
    counts, handles = count_runs(net)
    try:
        x = torch.rand(2, 3, 32, 32)
        model.activations(x, ["stem", "body"])
        ran = set(counts)
        assert {"stem", "stem.0", "body", "body.2"} <= ran and not any(n.startswith("head") for n in ran)
        counts.clear()
        model.activations(x, ["body.0"])        # inside a stage: the rest of that stage does not run either
        assert set(counts) == {"stem", "stem.0", "stem.1", "stem.2", "body", "body.0"}
    finally:
        remove(handles)


def test_optimization_never_runs_modules_after_the_deepest_layer(monkeypatch):
    """During caricature(steps=2): every forward of the optimization and of the final metrics stops at conv2
    (the forward passes outside them, adapt's trace and prepare's check of the BatchNorm fold, run the whole
    network and are not counted)."""
    from caricatures import make

    active = threading.Event()

    def during(fn):
        def wrapped(*args, **kw):
            active.set()
            try:
                return fn(*args, **kw)
            finally:
                active.clear()
        return wrapped
    monkeypatch.setattr(make, "optimize", during(make.optimize))
    monkeypatch.setattr(make, "evaluate", during(make.evaluate))
    net = small_cnn()
    model = adapt(net, input_size=32)
    counts, handles = count_runs(net, active.is_set)
    try:
        r = caricature(model, torch.rand(3, 32, 32), ["conv2", "conv1"], steps=2, seed=0, **FP32)
    finally:
        remove(handles)
    assert np.isfinite(r.images).all()
    assert counts["conv1"] > 0 and counts["conv2"] > 0          # the hooks did see the optimization
    assert counts["pool"] == counts["fc"] == 0
    assert counts["act"] == counts["conv2"]     # each forward reaching conv2 ran the ReLU before it, not after


# ---------------------------------------------------------------- 8. preprocessing and input size


class WithConfig(nn.Module):
    """A module carrying timm's pretrained_cfg."""

    def __init__(self, cfg_name: str = "pretrained_cfg"):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        setattr(self, cfg_name, {"mean": (0.5, 0.4, 0.3), "std": (0.2, 0.25, 0.3), "input_size": (3, 48, 48)})

    def forward(self, x):
        return self.conv(x)


def scaled(x: torch.Tensor) -> torch.Tensor:
    return 2 * x - 1


def test_preprocessing_and_input_size_choice():
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    # A callable given wins over pretrained_cfg (and its input size still comes from the cfg).
    m = adapt(WithConfig(), preprocess=scaled)
    assert m.preprocess is scaled and m.meta["preprocess"] == "given: scaled"
    assert m.input_size == 48 and m.meta["input_size"] == "pretrained_cfg"
    # mean/std given win over pretrained_cfg; input_size given wins too.
    m = adapt(WithConfig(), mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6), input_size=40)
    assert m.meta["preprocess"] == "given: mean (0.1, 0.2, 0.3), std (0.4, 0.5, 0.6)"
    assert m.input_size == 40 and m.meta["input_size"] == "given"
    want = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
    torch.testing.assert_close(m.preprocess(x), want)
    # pretrained_cfg (or timm's older default_cfg) when nothing is given.
    for attr in ("pretrained_cfg", "default_cfg"):
        m = adapt(WithConfig(attr))
        assert m.meta["preprocess"] == "pretrained_cfg: mean (0.5, 0.4, 0.3), std (0.2, 0.25, 0.3)"
        assert m.preprocess == Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
        assert m.input_size == 48 and m.meta["input_size"] == "pretrained_cfg"
        with torch.no_grad():
            want = m.stages[0].conv((x - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1))
                                    / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1))
        torch.testing.assert_close(m.activations(x, ["conv"])["conv"], want, rtol=0, atol=0)
    # Else ImageNet's mean and std at 224 px, said so.
    m = adapt(nn.Sequential(nn.Conv2d(3, 4, 3)))
    assert m.preprocess == Normalize(IMAGENET_MEAN, IMAGENET_STD)
    assert m.meta["preprocess"].startswith("default: ImageNet mean (0.485, 0.456, 0.406)")
    assert m.input_size == 224 and m.meta["input_size"].startswith("default 224")


def test_bad_preprocessing_arguments():
    with pytest.raises(ValueError, match="both mean and std"):
        adapt(WithConfig(), mean=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="both mean and std"):
        adapt(WithConfig(), std=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="both mean and std"):
        caricature(small_cnn(), torch.rand(3, 32, 32), "conv1", mean=(0.5, 0.5, 0.5), steps=1)
    with pytest.raises(ValueError, match="not both"):
        adapt(WithConfig(), preprocess=scaled, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="three values"):
        adapt(WithConfig(), mean=(0.5, 0.5), std=(0.5, 0.5))
    with pytest.raises(TypeError, match="nn.Module"):
        adapt(lambda x: x)


# ---------------------------------------------------------------- 4 and 7. Lite0 through the generic path


@pytest.fixture(scope="module")
def lite0():
    from caricatures.models import load_model
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def lite0_state(lite0):
    return torch.load(lite0.meta["weights_file"], map_location="cpu", weights_only=True)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_builtin_lite0_network_through_adapt_is_the_zoo_model(lite0, lite0_state):
    from caricatures.models import efficientnet_lite as el
    net = el.EfficientNetLite("efficientnet_lite0")   # has a whole-network forward (its stages in turn)
    net.load_state_dict(lite0_state, strict=True)
    model = adapt(net, preprocess=el.preprocess, weights="imagenet")
    assert model.input_size == 224 and model.meta["input_size"] == "default 224 (none given, no pretrained_cfg)"
    photo = load_photo(PANDA, 224)[None]
    pairs = {"block3": "_blocks.3", "block7": "_blocks.7", "block10.branch": "_blocks.10._bn2",
             "block15": "_blocks.15", "logits": "_fc"}
    zoo = lite0.activations(photo, [*pairs, "stem", "head"])
    mine = model.activations(photo, [*pairs.values(), "_bn0", "_bn1"])
    for a, b in pairs.items():   # the same modules run in the same order: bit-identical
        assert torch.equal(zoo[a], mine[b]), a
    assert torch.equal(zoo["stem"], mine["_bn0"].clamp(0, 6)) and torch.equal(zoo["head"], mine["_bn1"].clamp(0, 6))
    # The same caricature, pixel for pixel (measured: bit-identical): both are prepared alike (BatchNorm
    # folded, SAME convs padding inside the conv). One difference: the network's forward makes its stem and
    # head ConvBNAct anew at each call, so prepare fuses 31 ReLU6s into convs here and 33 in the zoo model
    # (its stem's and head's too); the fused conv is bit-identical to conv then ReLU6 for finite values.
    kw = {"steps": 16, "seed": 3, **FP32}
    a = caricature(lite0, photo[0], ["block7"], **kw)
    b = caricature(model, photo[0], ["_blocks.7"], **kw)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.metrics == b.metrics


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_efficientnet_lite_pytorch_lite0_matches_the_builtin(lite0, lite0_state):
    from efficientnet_lite_pytorch import EfficientNet
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(lite0_state, strict=True)
    model = adapt(net, mean=LITE_MEAN, std=LITE_STD, input_size=224, weights="imagenet")
    assert model.shape("_blocks.7") == lite0.shape("block7") == (80, 14, 14)
    photo = load_photo(PANDA, 224)
    zoo = lite0.activations(photo[None], ["block7"])["block7"]
    mine = model.activations(photo[None], ["_blocks.7"])["_blocks.7"]
    # Measured: max |Δ| 6.9e-5 (7.3e-5 on two threads) with activations up to 28.7, i.e. 2.4e-6 of the
    # largest. All of it is the preprocessing's rounding: (x − 127/255)/(128/255) and the zoo's
    # x·255/128 − 127/128 differ by up to 1.2e-7; with the zoo's own preprocessing the package's network
    # gives block7 bit for bit.
    torch.testing.assert_close(mine, zoo, rtol=0, atol=5e-4)
    assert zoo.abs().max() > 10     # a real, non-trivial activation
    from caricatures.models.efficientnet_lite import preprocess
    same = adapt(net, preprocess=preprocess, input_size=224).activations(photo[None], ["_blocks.7"])["_blocks.7"]
    assert torch.equal(same, zoo)
    # The same caricature (fp32, 224 px, seed 3, 32 steps, one thread) within float rounding, grown by the
    # optimization. Besides the preprocessing's rounding above, the prepared networks compute differently:
    # the zoo's SAME convs pad inside the conv and its ReLU6s are fused into the convs, the package's convs
    # (a ZeroPad2d module, then their own forward) are left as they are. Adam's steps (≈ lr·sign(g) at
    # first) flip on near-zero gradient components, so such differences grow step by step.
    # Measured: after step 1 max |Δ| 0.0035 (mean 4.5e-4); after 32, max 0.19, mean 0.023, 99th percentile
    # 0.089, gain 0.8917 vs 0.8889, cosine 0.6602 vs 0.6610. With the zoo's preprocessing: step 1 max 6e-8,
    # step 32 max 0.12, mean 0.010. For scale: the zoo model against itself on two threads instead of one
    # (another summation order, nothing else) differs after 32 steps by max 0.11, mean 0.010; two seeds of
    # the zoo model by max 0.64, mean 0.12; and the package's caricature at a neighbouring block (_blocks.6
    # or _blocks.8) against block7 by step-1 max 0.075–0.12, final mean 0.094–0.11, 99th percentile
    # 0.32–0.36, max 0.54–0.57: each bound below would catch that.
    kw = {"steps": 32, "seed": 3, "snapshots": (1, 32), **FP32}
    a = caricature(lite0, photo, ["block7"], **kw)
    b = caricature(model, photo, ["_blocks.7"], **kw)
    first, last = np.abs(a.snapshots[1] - b.snapshots[1]), np.abs(a.images - b.images)
    assert first.max() < 0.01
    assert last.mean() < 0.05 and np.quantile(last, 0.99) < 0.2 and last.max() < 0.4
    assert abs(a.metrics[0][0]["gain"] - b.metrics[0][0]["gain"]) < 0.01
    assert abs(a.metrics[0][0]["cosine"] - b.metrics[0][0]["cosine"]) < 0.01
