"""Pieces shared by the architectures: stem/head and logits stages, the layer table, seeded initialization."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from caricatures.models.base import Layer


class ConvBNAct(nn.Module):
    """Conv → BatchNorm → ReLU6 as one stage, reusing modules owned by the full network."""

    RELU6_AFTER = (("conv", "bn"),)

    def __init__(self, conv: nn.Module, bn: nn.Module):
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Logits(nn.Module):
    """Global average pool, flatten, linear classifier: (N, C, H, W) → (N, classes)."""

    def __init__(self, fc: nn.Linear):
        super().__init__()
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))


@dataclass(frozen=True)
class BlockInfo:
    channels: int
    stride: int          # total downsampling from the input at the block's output
    residual: bool
    branch: str          # dotted path (inside the block) of the projection BN, i.e. the residual branch


@dataclass(frozen=True)
class Description:
    """What a network's stages produce; turned into the layer table by `layer_table`."""
    stem_channels: int
    blocks: list[BlockInfo]
    head_channels: int
    classes: int
    stage_ends: list[int]  # index of the last block of each architectural stage


def _side(size: int, stride: int) -> int:
    return math.ceil(size / stride)


def layer_table(desc: Description, input_size: int) -> dict[str, Layer]:
    """Build the ordered layer table (stem, [block{i}.branch,] block{i}, head, logits) for `desc`."""
    layers: list[Layer] = []
    s = _side(input_size, 2)
    layers.append(Layer("stem", f"stem · {desc.stem_channels} ch · {s}×{s}", 0, "stem", desc.stem_channels, 2))
    for i, b in enumerate(desc.blocks):
        s = _side(input_size, b.stride)
        if b.residual:
            layers.append(Layer(f"block{i}.branch", f"block {i} branch · {b.channels} ch · {s}×{s}", i + 1,
                                "branch", b.channels, b.stride, b.branch))
        layers.append(Layer(f"block{i}", f"block {i} · {b.channels} ch · {s}×{s}", i + 1, "block",
                            b.channels, b.stride))
    n = len(desc.blocks)
    stride = desc.blocks[-1].stride
    s = _side(input_size, stride)
    layers.append(Layer("head", f"head · {desc.head_channels} ch · {s}×{s}", n + 1, "head",
                        desc.head_channels, stride))
    layers.append(Layer("logits", f"logits · {desc.classes} classes", n + 2, "logits", desc.classes, 1))
    return {lay.name: lay for lay in layers}


def stage_generator(seed: int, stage: int) -> torch.Generator:
    """Return a generator for one stage, so a stage's random weights do not depend on the other stages."""
    digest = hashlib.sha256(f"caricatures:{seed}:{stage}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


@torch.no_grad()
def init_stage(stage: nn.Module, generator: torch.Generator) -> None:
    """Re-initialize every conv, BatchNorm and linear layer in `stage` (torchvision's MobileNetV2 scheme)."""
    for m in stage.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
            m.bias.zero_()
