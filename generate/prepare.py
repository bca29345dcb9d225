"""Make a private, fast copy of a `Model` for optimization: frozen, folded, channels_last, on a device.

Measured on the project's 2-core CPU (REFERENCE §5 and bench/bench_engine.py): frozen weights, folded
BatchNorm and channels_last each pay; bf16 autocast pays only once stride-2 depthwise convolutions run as
stride 1 followed by [..., ::2, ::2] (exact), because oneDNN's bf16 backward for them is slow here.
"""
from __future__ import annotations

import copy
import dataclasses
import types

import torch
import torch.nn.functional as F
from torch import nn

from generate.models.base import Model


def default_device() -> str:
    """Return "cuda" when a GPU is available, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(device: str | torch.device) -> bool:
    """Return whether bf16 autocast is fast on this device (native bf16 on the CPU or GPU)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """Map "auto" to "bf16" where supported, else "fp32"; validate the name."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"unknown precision {precision!r}; choose auto, fp32 or bf16")
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def _stride1_subsample(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
                       bias: torch.Tensor | None) -> torch.Tensor:
    # Output i of a stride-2 conv is output 2i of the same conv at stride 1, for any padding.
    return F.conv2d(x, weight, bias, 1, self.padding, self.dilation, self.groups)[..., ::2, ::2]


def split_strided_depthwise(stages: nn.Module) -> int:
    """Run every stride-2 depthwise conv as stride 1 then [..., ::2, ::2]; return how many were changed."""
    n = 0
    for m in stages.modules():
        if (isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels == m.out_channels
                and m.stride == (2, 2) and m.padding_mode == "zeros"):
            m._conv_forward = types.MethodType(_stride1_subsample, m)
            n += 1
    return n


def fold(model: Model) -> Model:
    """Fold BatchNorm into convs with the zoo's `fold_batchnorm`; leave models it cannot fold unchanged."""
    from generate.models.fold import fold_batchnorm
    try:
        return fold_batchnorm(model)
    except ValueError:
        return dataclasses.replace(model, stages=copy.deepcopy(model.stages))


def prepare_model(model: Model, device: str | torch.device = "cpu", precision: str = "fp32",
                  *, fold_bn: bool = True, channels_last: bool = True) -> Model:
    """Return a frozen eval-mode copy of `model` on `device`, folded and laid out for speed."""
    fast = fold(model) if fold_bn else dataclasses.replace(model, stages=copy.deepcopy(model.stages))
    stages = fast.stages.to(device).eval().requires_grad_(False)
    if channels_last:
        stages = stages.to(memory_format=torch.channels_last)
    if precision == "bf16" and torch.device(device).type == "cpu":
        split_strided_depthwise(stages)
    meta = {**fast.meta, "prepared": {"device": str(device), "precision": precision, "folded": fold_bn,
                                      "channels_last": channels_last}}
    return dataclasses.replace(fast, stages=stages, meta=meta)
