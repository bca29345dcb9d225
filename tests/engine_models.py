"""Tiny models that follow the `Model` contract, for fast engine tests (no weights, seeded)."""
from __future__ import annotations

import torch
from torch import nn

from caricatures.models.base import Layer, Model


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int, groups: int = 1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU6())


class Down(nn.Module):
    """Depthwise stride-2 conv then a 1×1 projection (like an MBConv without expansion)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.dw = ConvBNAct(cin, cin, 3, 2, groups=cin)
        self.proj = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.proj(self.dw(x)))


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.expand = ConvBNAct(c, 2 * c, 1, 1)
        self.proj = nn.Conv2d(2 * c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn(self.proj(self.expand(x)))


class Logits(nn.Module):
    def __init__(self, c: int, classes: int):
        super().__init__()
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))


def tiny_model(seed: int = 0) -> Model:
    """Return a 4-stage conv net (stem, stride-2 depthwise block, residual block, logits), random BN stats."""
    torch.manual_seed(seed)
    stages = nn.ModuleList([ConvBNAct(3, 8, 3, 2), Down(8, 12), Residual(12), Logits(12, 10)])
    with torch.no_grad():
        for m in stages.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    stages.eval().requires_grad_(False)
    layers = [Layer("stem", "stem", 0, "stem", 8, 2), Layer("down", "down", 1, "block", 12, 4),
              Layer("res.branch", "res branch", 2, "branch", 12, 4, "bn"), Layer("res", "res", 2, "block", 12, 4),
              Layer("logits", "logits", 3, "logits", 10, 1)]
    return Model("tiny", 32, stages, {lay.name: lay for lay in layers}, lambda x: 2 * x - 1, "random",
                 meta={"stage_ends": ["stem", "down", "res"]})


class Scale(nn.Module):
    """Multiply by a fixed matrix over channels (a 1×1 conv without bias), kept linear for closed forms."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.conv = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(w[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def linear_model(*ws: torch.Tensor) -> Model:
    """Return hidden layers a = W1·x, b = W2·a, … per pixel, then logits = W_last·Σ_xy (identity
    preprocess): known gradients. The last matrix is the logits'; each one before it is a hidden layer."""
    class SumLogits(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(ws[-1].shape[1], ws[-1].shape[0], bias=False)
            with torch.no_grad():
                self.fc.weight.copy_(ws[-1])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.sum((2, 3)))

    stages = nn.ModuleList([*(Scale(w) for w in ws[:-1]), SumLogits()]).eval().requires_grad_(False)
    names = "abcdefgh"[:len(ws) - 1]
    layers = [*(Layer(n, n, i, "block", w.shape[0], 1) for i, (n, w) in enumerate(zip(names, ws))),
              Layer("logits", "logits", len(ws) - 1, "logits", ws[-1].shape[0], 1)]
    return Model("linear", 8, stages, {lay.name: lay for lay in layers}, lambda x: x, "random")
