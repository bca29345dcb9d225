"""Model preparation: stride-2 depthwise as stride 1 + subsampling is exact; the prepared copy computes
the same activations as the original model and leaves it untouched."""
import dataclasses

import pytest
import torch
from torch import nn

from generate.prepare import patch_convs, prepare_model, resolve_precision, split_strided_depthwise
from generate.render import Runner
from tests.engine_models import tiny_model


@pytest.mark.parametrize("size,k,pad", [(15, 3, 1), (16, 5, 2), (17, 3, 0)])
def test_split_strided_depthwise_is_exact(size, k, pad):
    conv = nn.Conv2d(6, 6, k, 2, pad, groups=6)
    x = torch.randn(2, 6, size, size)
    want = conv(x)
    assert split_strided_depthwise(nn.Sequential(conv)) == 1
    torch.testing.assert_close(conv(x), want, rtol=1e-5, atol=1e-6)


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
    from generate.models.efficientnet_lite import SameConv2d
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
    from generate.models import load_model
    model = load_model("efficientnet_lite0")
    x = torch.rand(2, 3, 64, 64)
    layers = ["stem", "block1", "block3", "block6.branch", "block11", "logits"]
    want = model.activations(x, layers)
    for precision in ("fp32", "bf16"):  # bf16 here only changes how strided depthwise convs are computed
        got = Runner(prepare_model(model, "cpu", precision), layers)(x, layers)
        for name in layers:
            torch.testing.assert_close(got[name], want[name], rtol=1e-3, atol=1e-3)
