"""Make a private, fast copy of a `Model` for optimization: frozen, folded, channels_last, on a device.

Measured on the project's 2-core CPU (docs/FACTS.md and bench/bench_engine.py): frozen weights, folded
BatchNorm, channels_last and ReLU6 fused into the conv before it (one oneDNN call) each pay; bf16 autocast
pays only once stride-2 depthwise convolutions take their input gradient at stride 1 (exact), because
oneDNN's bf16 backward for them is slow here. Every conv goes through `_FrozenConv` (input gradient only).
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

from caricatures.models.base import Model


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


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _conv_relu6(x, weight, bias, stride, padding, groups) -> torch.Tensor:
    return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, padding, stride, [1, 1], groups, "hardtanh",
                                                   [0.0, 6.0], "")


def _forward(x, weight, bias, stride, padding, groups, relu6: bool) -> torch.Tensor:
    if relu6:
        return _conv_relu6(x, weight, bias, stride, padding, groups)
    return F.conv2d(x, weight, bias, stride, padding, 1, groups)


class _FrozenConv(torch.autograd.Function):
    """A conv with frozen weights, optionally followed by ReLU6 as a oneDNN post-op (bit-identical to the two
    calls for finite values, but NaN comes out as 0; the clamp's pass over memory is gone). The backward
    computes the input's gradient only, as autograd does for the pair. With `split`, a stride-2 conv's input
    gradient is taken at stride 1 from a zero grid holding the output's gradient at every other pixel (exact:
    output i at stride 2 is output 2i at stride 1); oneDNN's own bf16 strided depthwise backward is several
    times slower here, and autograd's way to the same grid (an NCHW zero grid that the conv's backward then
    copies to channels_last) 1.4–2.3× slower than making the grid channels_last at once (measured)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, groups, relu6, split):
        y = _forward(x, weight, bias, stride, padding, groups, relu6)
        ctx.save_for_backward(x, weight, y if relu6 else None)
        ctx.conv = (stride, padding, groups, relu6, split)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        stride, padding, groups, relu6, split = ctx.conv
        if relu6:  # ReLU6's mask from its output equals the mask from its input: y <= 0 iff x <= 0, etc.
            grad = torch.ops.aten.hardtanh_backward(grad, y, 0.0, 6.0)
        if split:
            full = [x.shape[i] + 2 * padding[i - 2] - weight.shape[i] + 1 for i in (2, 3)]
            grid = torch.empty((*grad.shape[:2], *full), dtype=grad.dtype, device=grad.device,
                               memory_format=torch.channels_last).zero_()
            grid[..., ::2, ::2] = grad
            grad, stride = grid, [1, 1]
        dx = torch.ops.aten.convolution_backward(grad, x, weight, None, stride, padding, [1, 1], False, [0, 0],
                                                 groups, [True, False, False])[0]
        return dx, None, None, None, None, None, None, None


def _autocast_args(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    """Under autocast, cast as autocast would, but the frozen weights once (autocast casts them every
    call: it caches only leaves that require grad)."""
    kind = x.device.type
    if not torch.is_autocast_enabled(kind):
        return x, weight, bias
    dtype = torch.get_autocast_dtype(kind)
    key = (weight.data_ptr(), dtype)
    if key not in self._cast:
        self._cast[key] = (weight.to(dtype), None if bias is None else bias.to(dtype))
    return (x.to(dtype), *self._cast[key])


def _conv(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
          stride, padding) -> torch.Tensor:
    relu6, split = getattr(self, "_relu6", False), getattr(self, "_split", False)
    x, weight, bias = _autocast_args(self, x, weight, bias)
    if x.requires_grad and torch.is_grad_enabled():
        return _FrozenConv.apply(x, weight, bias, list(stride), list(padding), self.groups, relu6, split)
    return _forward(x, weight, bias, list(stride), list(padding), self.groups, relu6)


def _conv_forward(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
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
    return _conv(self, x, self._same_weights[ext], self.bias, self.stride, (hb, wb))


def _same_conv_class() -> type | None:
    try:
        from caricatures.models.efficientnet_lite import SameConv2d
    except ImportError:
        return None
    return SameConv2d


def patch_convs(stages: nn.Module, same_padding: bool = True, split_depthwise: bool = False,
                channels_last: bool = True) -> dict[str, int]:
    """Make every zero-padded conv of `stages` a frozen one (`_FrozenConv`: input gradient only, weights cast
    once under autocast), in place and exact: with same_padding, SAME-padded ones pad inside the conv instead
    of copying; with split_depthwise, stride-2 depthwise convs take their input gradient at stride 1.

    Returns how many convs got each of the two changes.
    """
    same, counts = _same_conv_class(), {"same": 0, "split": 0}
    for m in stages.modules():
        if not isinstance(m, nn.Conv2d) or m.padding_mode != "zeros" or m.dilation != (1, 1):
            continue
        if isinstance(m.padding, str) or (type(m).forward is not nn.Conv2d.forward
                                          and not (same is not None and isinstance(m, same))):
            continue   # padding "same"/"valid", or a subclass with a forward of its own: left as it is
        m._cast, m._split = {}, split_depthwise and _is_depthwise(m) and m.stride == (2, 2)
        counts["split"] += m._split
        if same_padding and same is not None and isinstance(m, same) and m.stride != (1, 1):
            m._same_weights, m._same_cl = {}, channels_last
            m.forward = types.MethodType(_same_forward, m)
            counts["same"] += 1
        else:
            m._conv_forward = types.MethodType(_conv_forward, m)
    return counts


def split_strided_depthwise(stages: nn.Module) -> int:
    """Give every stride-2 depthwise conv its input gradient at stride 1; return how many were changed."""
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

    The ReLU6 becomes an Identity; only for CPU stages laid out channels_last whose convs go through `_conv`
    (`patch_convs`), in float32 or under bf16 autocast. Returns how many convs were fused.
    """
    fused = 0
    for module in list(stages.modules()):
        pairs = _relu6_pairs(module)
        if not all(hasattr(conv, "_cast") for conv, _ in pairs):  # a conv `_conv` does not run (dilated, …)
            continue
        for conv, _ in pairs:
            conv._relu6 = True  # read by _conv (patch_convs made every conv go through it)
        for act in {a for _, a in pairs}:
            setattr(module, act, nn.Identity())
        fused += len(pairs)
    return fused


def fold(model: Model) -> Model:
    """Fold BatchNorm into convs with the zoo's `fold_batchnorm`; leave models it cannot fold unchanged.

    An adapted module's BatchNorm follows its conv in definition order, which need not be the order its
    forward runs them in: its fold is kept only if the network's output is unchanged on a probe batch."""
    from caricatures.models.fold import fold_batchnorm
    unfolded = dataclasses.replace(model, stages=copy.deepcopy(model.stages))
    try:
        folded = fold_batchnorm(model)
    except ValueError:
        return unfolded
    if model.meta.get("adapted"):
        probe = torch.rand(2, 3, model.input_size, model.input_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            want, got = model.run(probe), folded.run(probe)
        if not (isinstance(want, torch.Tensor) and isinstance(got, torch.Tensor)) or not torch.allclose(got, want, rtol=1e-3, atol=1e-4 * float(want.abs().max()) + 1e-6):
            return unfolded
    return folded


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
    fusable = precision == "fp32" or bf16_supported(device)  # oneDNN's reference bf16 kernels are slow
    if relu6 and fold_bn and channels_last and cpu and fusable and torch.backends.mkldnn.is_available():
        fused = fuse_relu6(stages)
    meta = {**fast.meta, "prepared": {"device": str(device), "precision": precision, "folded": fold_bn,
                                      "channels_last": channels_last, "same_padding": same_padding,
                                      "relu6_fused": fused}}
    return dataclasses.replace(fast, stages=stages, meta=meta)
