"""Modules of the kind a user writes, for the adapter's tests and bench/bench_models.py: a small CNN and a
small vision transformer (tokens (B, N, C))."""
from __future__ import annotations

import torch
from torch import nn

LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3   # (255·x − 127) / 128 as (x − mean) / std


class SmallCNN(nn.Module):
    """conv → BN → ReLU → strided conv → ReLU → pool → linear, not a Sequential. The head is registered first
    (layers must come in the order the forward pass runs them, not in registration order) and one ReLU is
    shared (run twice per forward: not a layer)."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.fc = nn.Linear(16, classes)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv1(x)))
        x = self.act(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


CNN_ORDER = ["conv1", "bn1", "conv2", "pool", "fc", "output"]


def small_cnn() -> SmallCNN:
    torch.manual_seed(0)
    net = SmallCNN()
    with torch.no_grad():   # BatchNorm statistics that are not the identity, so folding it matters
        net.bn1.running_mean.uniform_(-0.2, 0.2)
        net.bn1.running_var.uniform_(0.5, 2.0)
    return net


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x)); tokens (B, N, C)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class SmallViT(nn.Module):
    """Patch-embedding conv, class token, position embedding, transformer blocks, LayerNorm, linear head."""

    def __init__(self, size: int = 32, patch: int = 8, dim: int = 32, depth: int = 2, heads: int = 4,
                 classes: int = 10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, (size // patch) ** 2 + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)                 # (B, N, C)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])
