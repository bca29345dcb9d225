"""Make a private, fast copy of a `Model` for optimization: frozen, folded, channels_last, on a device.

Measured on the project's 2-core CPU (docs/FACTS.md and bench/bench_engine.py): frozen weights, folded
BatchNorm, channels_last and ReLU6 fused into the conv before it (one oneDNN call) each pay; bf16 autocast
pays only once stride-2 depthwise convolutions run as stride 1 followed by [..., ::2, ::2] (exact), because
oneDNN's bf16 backward for them is slow here.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import types

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

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


def _is_depthwise(m: nn.Conv2d) -> bool:
    return m.groups > 1 and m.groups == m.in_channels == m.out_channels


def _stride1_subsample(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
                       bias: torch.Tensor | None) -> torch.Tensor:
    # Output i of a stride-2 conv is output 2i of the same conv at stride 1, for any padding.
    return F.conv2d(x, weight, bias, 1, self.padding, self.dilation, self.groups)[..., ::2, ::2]


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _conv_relu6(x, weight, bias, stride, padding, groups) -> torch.Tensor:
    return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, padding, stride, [1, 1], groups, "hardtanh",
                                                   [0.0, 6.0], "")


class _ConvReLU6(torch.autograd.Function):
    """relu6(conv2d(x)) as one oneDNN convolution with a clamp post-op (bit-identical to the two calls for
    finite values, but NaN comes out as 0; the clamp pass over memory is gone); backward exactly as autograd
    does it for the pair, weights frozen."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, groups):
        y = _conv_relu6(x, weight, bias, stride, padding, groups)
        ctx.save_for_backward(x, weight, y)
        ctx.conv = (stride, padding, groups)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        stride, padding, groups = ctx.conv
        # ReLU6's mask from its output equals the mask from its input: y <= 0 iff x <= 0, y >= 6 iff x >= 6.
        grad = torch.ops.aten.hardtanh_backward(grad, y, 0.0, 6.0)
        dx = torch.ops.aten.convolution_backward(grad, x, weight, None, stride, padding, [1, 1], False, [0, 0],
                                                 groups, [True, False, False])[0]
        return dx, None, None, None, None, None


def _conv(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
          stride, padding) -> torch.Tensor:
    if getattr(self, "_relu6", False):
        if not (x.requires_grad and torch.is_grad_enabled()):
            return _conv_relu6(x, weight, bias, stride, padding, self.groups)
        return _ConvReLU6.apply(x, weight, bias, stride, padding, self.groups)
    return F.conv2d(x, weight, bias, stride, padding, self.dilation, self.groups)


def _fused_conv_forward(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
                        bias: torch.Tensor | None) -> torch.Tensor:
    return _conv(self, x, weight, bias, self.stride, self.padding)


def _same_forward(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    # TensorFlow SAME padding without F.pad's padded copy: pad both sides by the far side's amount and,
    # where the near side needs one pixel less, give the kernel a leading zero row/column (exact).
    (ha, hb), (wa, wb) = (_same_pads(x.shape[-2], self.kernel_size[0], self.stride[0]),
                          _same_pads(x.shape[-1], self.kernel_size[1], self.stride[1]))
    ext = (hb - ha, wb - wa)
    if ext not in self._same_weights:
        w = F.pad(self.weight, (ext[1], 0, ext[0], 0))
        self._same_weights[ext] = w.contiguous(memory_format=torch.channels_last) if self._same_cl else w
    w = self._same_weights[ext]
    if self._same_split:
        return F.conv2d(x, w, self.bias, 1, (hb, wb), self.dilation, self.groups)[..., ::2, ::2]
    return _conv(self, x, w, self.bias, self.stride, (hb, wb))


def _same_conv_class() -> type | None:
    try:
        from generate.models.efficientnet_lite import SameConv2d
    except ImportError:
        return None
    return SameConv2d


def patch_convs(stages: nn.Module, same_padding: bool = True, split_depthwise: bool = False,
                channels_last: bool = True) -> dict[str, int]:
    """Speed up strided convs in place (exact): with same_padding, SAME-padded ones pad inside the conv
    instead of copying; with split_depthwise, stride-2 depthwise convs run at stride 1 then [..., ::2, ::2].

    Returns how many convs got each change.
    """
    same, counts = _same_conv_class(), {"same": 0, "split": 0}
    for m in stages.modules():
        if not isinstance(m, nn.Conv2d) or m.stride == (1, 1) or m.padding_mode != "zeros":
            continue
        split = split_depthwise and _is_depthwise(m) and m.stride == (2, 2)
        if same_padding and same is not None and isinstance(m, same):
            m._same_weights, m._same_cl, m._same_split = {}, channels_last, split
            m.forward = types.MethodType(_same_forward, m)
            counts["same"] += 1
        elif split:
            m._conv_forward = types.MethodType(_stride1_subsample, m)
        counts["split"] += split
    return counts


def split_strided_depthwise(stages: nn.Module) -> int:
    """Run every stride-2 depthwise conv as stride 1 then [..., ::2, ::2]; return how many were changed."""
    return patch_convs(stages, same_padding=False, split_depthwise=True)["split"]


def _relu6_pairs(module: nn.Module) -> list[tuple[nn.Conv2d, str]]:
    """(conv, ReLU6 attribute) pairs in `module` where the conv's output goes straight into that ReLU6.

    nn.Sequential: a Conv2d followed by Identity (a folded BatchNorm) layers and a ReLU6. Other modules
    declare it: `RELU6_AFTER = ((conv attr, norm attr), …)` feed `self.act`, as EfficientNet's blocks do.
    """
    if isinstance(module, nn.Sequential):
        kids, pairs = list(module.named_children()), []
        for i, (_, conv) in enumerate(kids):
            j = i + 1
            while j < len(kids) and isinstance(kids[j][1], nn.Identity):
                j += 1
            if isinstance(conv, nn.Conv2d) and j < len(kids) and type(kids[j][1]) is nn.ReLU6:
                pairs.append((conv, kids[j][0]))
        return pairs
    declared = [(getattr(module, c), n) for c, n in getattr(module, "RELU6_AFTER", ()) if hasattr(module, c)]
    if declared and type(getattr(module, "act", None)) is nn.ReLU6 and all(
            isinstance(conv, nn.Conv2d) and isinstance(getattr(module, n), nn.Identity) for conv, n in declared):
        return [(conv, "act") for conv, _ in declared]
    return []


def fuse_relu6(stages: nn.Module) -> int:
    """Fuse every ReLU6 that directly follows a conv (BatchNorm already folded) into that conv, in place.

    The ReLU6 becomes an Identity; only for CPU float32 stages laid out channels_last. Returns how many
    convs were fused.
    """
    fused = 0
    for module in list(stages.modules()):
        pairs = _relu6_pairs(module)
        for conv, _ in pairs:
            conv._conv_forward = types.MethodType(_fused_conv_forward, conv)  # _same_forward checks _relu6
            conv._relu6 = True
        for act in {a for _, a in pairs}:
            setattr(module, act, nn.Identity())
        fused += len(pairs)
    return fused


def fold(model: Model) -> Model:
    """Fold BatchNorm into convs with the zoo's `fold_batchnorm`; leave models it cannot fold unchanged."""
    from generate.models.fold import fold_batchnorm
    try:
        return fold_batchnorm(model)
    except ValueError:
        return dataclasses.replace(model, stages=copy.deepcopy(model.stages))


def prepare_model(model: Model, device: str | torch.device = "cpu", precision: str = "fp32",
                  *, fold_bn: bool = True, channels_last: bool = True, same_padding: bool = True,
                  relu6: bool = True) -> Model:
    """Return a frozen eval-mode copy of `model` on `device`, folded and laid out for speed."""
    fast = fold(model) if fold_bn else dataclasses.replace(model, stages=copy.deepcopy(model.stages))
    stages = fast.stages.to(device).eval().requires_grad_(False)
    if channels_last:
        stages = stages.to(memory_format=torch.channels_last)
    cpu = torch.device(device).type == "cpu"
    patch_convs(stages, same_padding, precision == "bf16" and cpu, channels_last)
    fused = 0
    if relu6 and fold_bn and channels_last and cpu and precision == "fp32" and torch.backends.mkldnn.is_available():
        fused = fuse_relu6(stages)
    meta = {**fast.meta, "prepared": {"device": str(device), "precision": precision, "folded": fold_bn,
                                      "channels_last": channels_last, "same_padding": same_padding,
                                      "relu6_fused": fused}}
    return dataclasses.replace(fast, stages=stages, meta=meta)
