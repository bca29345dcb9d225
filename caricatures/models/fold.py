"""Fold every BatchNorm that follows a conv into that conv, leaving `nn.Identity` at the BN's path.

Keeping the BN's attribute as an Identity keeps every `Layer.module` path valid, so hooks on a projection BN
still fire and give the same values (to float rounding).
"""
from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from caricatures.models.base import Model


@torch.no_grad()
def _fold_pair(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight.copy_(conv.weight.double() * scale.view(-1, 1, 1, 1))
    conv.bias = nn.Parameter(((bias - bn.running_mean.double()) * scale + bn.bias.double()).to(conv.weight.dtype),
                             requires_grad=conv.weight.requires_grad)


def _fold_children(module: nn.Module) -> None:
    children = list(module.named_children())
    for (name, child), (next_name, after) in zip(children, children[1:] + [(None, None)]):
        if isinstance(child, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
            _fold_pair(child, after)
            setattr(module, next_name, nn.Identity())
        elif not isinstance(child, (nn.Conv2d, nn.BatchNorm2d)):
            _fold_children(child)


def fold_batchnorm(model: Model) -> Model:
    """Return a copy of `model` whose BatchNorms are folded into the preceding convs (eval semantics)."""
    stages = copy.deepcopy(model.stages)
    for stage in stages:
        _fold_children(stage)
    left = [n for n, m in stages.named_modules() if isinstance(m, nn.BatchNorm2d)]
    if left:
        raise ValueError(f"{model.name}: BatchNorm not directly after a conv, cannot fold: {', '.join(left)}")
    return dataclasses.replace(model, stages=stages.eval(), meta={**model.meta, "folded": True})
