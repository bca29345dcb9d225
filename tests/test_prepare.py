"""Model preparation: stride-2 depthwise as stride 1 + subsampling is exact; the prepared copy computes
the same activations as the original model and leaves it untouched."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from caricatures.forward import Runner
from caricatures.prepare import (
    _FrozenConv,
    bf16_supported,
    patch_convs,
    prepare_model,
    resolve_precision,
    split_strided_depthwise,
)
from tests.engine_models import tiny_model


@pytest.mark.parametrize("size,k,pad", [(15, 3, 1), (16, 5, 2), (17, 3, 0)])
def test_split_strided_depthwise_is_exact(size, k, pad):
    conv = nn.Conv2d(6, 6, k, 2, pad, groups=6)
    x = torch.randn(2, 6, size, size)
    want = conv(x)
    assert split_strided_depthwise(nn.Sequential(conv)) == 1
    torch.testing.assert_close(conv(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("size,k", [(14, 3), (15, 3), (16, 5), (17, 5)])
def test_split_backward_is_the_strided_convs_gradient(size, k, dtype):
    """A split conv's input gradient (taken at stride 1 from a zero grid) equals autograd's through the stride-1
    conv and [..., ::2, ::2], bit for bit, and its stride-2 forward equals that subsampling."""
    torch.manual_seed(0)
    cl = torch.channels_last
    x = torch.randn(2, 6, size, size + 1).to(dtype).contiguous(memory_format=cl)
    w, b = torch.randn(6, 1, k, k).to(dtype).contiguous(memory_format=cl), torch.randn(6).to(dtype)
    pad = [k // 2, k // 2]
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    want = F.conv2d(xa, w, b, 1, pad, 1, 6)[..., ::2, ::2]
    got = _FrozenConv.apply(xb, w, b, [2, 2], pad, 6, False, True)
    g = torch.randn(want.shape).to(dtype).contiguous(memory_format=cl)
    assert torch.equal(got, want)
    assert torch.equal(torch.autograd.grad(got, xb, g)[0], torch.autograd.grad(want, xa, g)[0])


def test_split_leaves_other_convs_alone():
    net = nn.Sequential(nn.Conv2d(4, 4, 3, 1, 1, groups=4), nn.Conv2d(4, 8, 3, 2, 1), nn.Conv2d(4, 4, 3, 2, 1))
    assert split_strided_depthwise(net) == 0


def test_prepared_model_matches_original():
    model = tiny_model()
    fast = prepare_model(model, "cpu", "bf16")  # bf16 only changes the layout of strided depthwise convs here
    x = torch.rand(3, 3, 32, 32)
    layers = list(model.layers)
    want, got = Runner(model, layers)(x, layers), Runner(fast, layers)(x, layers)
    for name in layers:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.stages.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.stages.modules())
    assert not any(p.requires_grad for p in fast.stages.parameters())
    assert fast.meta["prepared"]["precision"] == "bf16"


def test_unfoldable_model_still_prepares():
    model = tiny_model()
    stages = nn.ModuleList([nn.Sequential(nn.BatchNorm2d(3), m) if i == 0 else m
                            for i, m in enumerate(model.stages)])
    odd = dataclasses.replace(model, stages=stages.eval())
    fast = prepare_model(odd)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(Runner(fast, ["res"])(x, ["res"])["res"], Runner(odd, ["res"])(x, ["res"])["res"])


def test_resolve_precision():
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("auto", "cpu") in ("fp32", "bf16")
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", "cpu")


@pytest.mark.parametrize("size", [14, 15, 56, 57])
@pytest.mark.parametrize("k,groups,split", [(3, 6, False), (5, 6, False), (3, 1, False), (3, 6, True), (5, 6, True)])
def test_same_padding_in_the_conv_is_exact(size, k, groups, split):
    from caricatures.models.efficientnet_lite import SameConv2d
    conv = SameConv2d(6, 6, k, 2, groups=groups)
    x = torch.randn(2, 6, size, size + 1)
    want = conv(x)
    counts = patch_convs(nn.Sequential(conv), split_depthwise=split, channels_last=False)
    assert counts["same"] == 1 and counts["split"] == (split and groups == 6)
    got = conv(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_prepared_lite0_matches_the_zoo_model():
    from caricatures.models import load_model
    model = load_model("efficientnet_lite0")
    x = torch.rand(2, 3, 64, 64)
    layers = ["stem", "block1", "block3", "block6.branch", "block11", "logits"]
    want = model.activations(x, layers)
    for precision in ("fp32", "bf16"):  # bf16 here only changes how strided depthwise convs are computed
        got = Runner(prepare_model(model, "cpu", precision), layers)(x, layers)
        for name in layers:
            torch.testing.assert_close(got[name], want[name], rtol=1e-3, atol=1e-3)


def _forward_and_input_grad(model, x, layers):
    x = x.clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    out = Runner(model, layers)(x, layers)
    loss = sum((out[n] * out[n].detach().flip(0)).sum() for n in layers)
    return out, torch.autograd.grad(loss, x)[0]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("make", ["tiny", "mbconv"])
def test_fused_relu6_is_bit_identical(make, precision):
    """Fused against unfused, in float32 and under bf16 autocast (weights cast once, stride-2 depthwise split)."""
    if make == "tiny":
        model = tiny_model()
    else:  # EfficientNet's blocks declare their conv → ReLU6 pairs instead of being Sequentials
        from caricatures.models.common import ConvBNAct
        from caricatures.models.efficientnet_lite import MBConv, SameConv2d
        torch.manual_seed(0)
        stages = nn.ModuleList([ConvBNAct(SameConv2d(3, 8, 3, 2), nn.BatchNorm2d(8)), MBConv(8, 8, 5, 1, 6),
                                MBConv(8, 16, 3, 2, 6)])
        for m in stages.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.bias.data.uniform_(-1, 1)
        model = dataclasses.replace(tiny_model(), stages=stages.eval().requires_grad_(False), layers={
            name: lay for name, lay in tiny_model().layers.items() if lay.stage < 3})
        model.layers = {n: dataclasses.replace(lay, module=None) for n, lay in model.layers.items()}
    fused = prepare_model(model, "cpu", precision)
    if precision == "fp32" or bf16_supported("cpu"):
        assert fused.meta["prepared"]["relu6_fused"] == (3 if make == "tiny" else 5)
        assert not any(isinstance(m, nn.ReLU6) for m in fused.stages.modules())
    plain = prepare_model(model, "cpu", precision, relu6=False)
    assert plain.meta["prepared"]["relu6_fused"] == 0
    layers = list(model.layers)
    x = torch.rand(3, 3, 33, 32) * 40 - 20  # far beyond [0, 1], so that units saturate at 6 as well as 0
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        (got, got_grad), (want, want_grad) = (_forward_and_input_grad(m, x, layers) for m in (fused, plain))
    assert (want[layers[0]] == 6).any() and (want[layers[0]] == 0).any()
    for name in layers:
        assert torch.equal(got[name], want[name]), name
    assert torch.equal(got_grad, want_grad)
    assert (want_grad != 0).any()


def test_relu6_is_not_fused_where_it_cannot_be():
    model = tiny_model()
    unfused = [{"fold_bn": False}, {"channels_last": False}] + ([] if bf16_supported("cpu") else [{"precision": "bf16"}])
    for kw in unfused:
        assert prepare_model(model, **kw).meta["prepared"]["relu6_fused"] == 0, kw
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU6(), nn.Conv2d(4, 4, 1), nn.ReLU())
    from caricatures.prepare import fuse_relu6
    assert fuse_relu6(net) == 0  # a BatchNorm between conv and ReLU6, and a plain ReLU: left alone
    dilated = nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2), nn.ReLU6()).eval().requires_grad_(False)
    x = torch.randn(1, 3, 9, 9) * 20
    want = dilated(x)
    patch_convs(dilated)
    assert fuse_relu6(dilated) == 0 and torch.equal(dilated(x), want)  # its conv does not go through _conv
