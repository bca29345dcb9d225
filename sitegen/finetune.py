"""Fine-tune an ImageNet model of the zoo on another data set, deterministically, keeping checkpoints.

    arrays = finetune("efficientnet_lite0", "dead-leaves", steps=600, batch=32, lr=0.002, size=64, seed=0,
                      checkpoints=(100, 600), test=2000)
    model = checkpoint_model("efficientnet_lite0", arrays, 100)       # a frozen Model, as load_model gives

The recipe: a fresh 10-class linear head (seeded), every weight trained by SGD with momentum 0.9 at a constant
rate, cross-entropy, no augmentation. BatchNorm stays in eval mode (its ImageNet statistics are kept and only
its scale and shift train): small batches of grey or synthetic images would otherwise overwrite the running
statistics, and eval mode keeps each step a pure function of the weights and the batch. The data order is a
fixed function of the seed; on the CPU, one thread gives bit-identical weights run after run.

Result arrays: `w<step>:<param>` per checkpoint (step 0 is the ImageNet backbone and is not stored),
`checkpoint_steps`, `loss` (per step), `accuracy` (per checkpoint, on the test split, step 0 included).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from caricatures.models import load_model
from caricatures.models.base import Model
from sitegen.datasets import DATASETS, class_names, fashion_mnist, synthetic_batch

MOMENTUM = 0.9


def _with_head(model: Model, classes: int, seed: int) -> Model:
    """Give `model` a fresh `classes`-way linear head (seeded), in place; return it."""
    logits = model.stages[-1]
    gen = torch.Generator().manual_seed(seed)
    fc = nn.Linear(logits.fc.in_features, classes)
    with torch.no_grad():
        bound = 1 / logits.fc.in_features ** 0.5
        fc.weight.copy_(torch.rand(fc.weight.shape, generator=gen) * 2 * bound - bound)
        fc.bias.zero_()
    logits.fc = fc
    lay = model.layers["logits"]
    model.layers["logits"] = type(lay)(lay.name, f"logits · {classes} classes", lay.stage, lay.kind, classes,
                                       lay.stride)
    return model


def _to_input(images: np.ndarray, size: int) -> torch.Tensor:
    """Return uint8 grey (N, H, W) or colour (N, H, W, 3) images as float (N, 3, size, size) in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float() / 255
    x = x[:, None].expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return x.contiguous()


class _Data:
    """The training stream and the test set of a data set, fixed by the seed."""

    def __init__(self, dataset: str, seed: int, size: int, test: int):
        if dataset not in DATASETS:
            raise ValueError(f"unknown data set {dataset!r}; valid: {', '.join(DATASETS)}")
        self.dataset, self.size = dataset, size
        self.rng = np.random.default_rng([seed, 0])
        if dataset == "fashion-mnist":
            self.train = fashion_mnist("train")
            images, labels = fashion_mnist("test")
            pick = np.linspace(0, len(labels) - 1, min(test, len(labels))).round().astype(int)
            self.test = images[pick], labels[pick]
            self.order, self.at = self.rng.permutation(len(self.train[1])), 0
        else:
            self.test = synthetic_batch(np.random.default_rng([seed, 1]), test, size)

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.dataset != "fashion-mnist":
            images, labels = synthetic_batch(self.rng, n, self.size)
        else:
            if self.at + n > len(self.order):
                self.order, self.at = self.rng.permutation(len(self.order)), 0
            idx = self.order[self.at:self.at + n]
            self.at += n
            images, labels = self.train[0][idx], self.train[1][idx]
        return _to_input(images, self.size), torch.from_numpy(labels)


@torch.no_grad()
def accuracy(model: Model, images: np.ndarray, labels: np.ndarray, size: int, chunk: int = 200,
             device: str = "cpu") -> float:
    """Return the fraction of `images` whose top logit is their label."""
    right = 0
    for i in range(0, len(labels), chunk):
        logits = model.run(_to_input(images[i:i + chunk], size).to(device)).cpu()
        right += int((logits.argmax(1) == torch.from_numpy(labels[i:i + chunk])).sum())
    return right / len(labels)


def finetune(name: str, dataset: str, *, steps: int, batch: int, lr: float, size: int, seed: int,
             checkpoints: Sequence[int], test: int, progress: Callable[[int], None] | None = None,
             device: str = "cpu") -> dict[str, np.ndarray]:
    """Fine-tune ImageNet `name` on `dataset` for `steps` SGD steps; return the result arrays (module doc).
    `progress(images)` is called after each step with the training images seen so far."""
    marks = sorted(set(checkpoints))
    if not marks or marks[0] < 0 or marks[-1] > steps:
        raise ValueError(f"checkpoints {list(checkpoints)} must lie in 0..steps ({steps})")
    torch.manual_seed(seed)
    data = _Data(dataset, seed, size, test)
    model = _with_head(load_model(name), len(class_names(dataset)), seed)
    model.stages.to(device).eval()
    params = list(model.stages.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)
    out: dict[str, np.ndarray] = {}
    losses, accuracies = [], []

    def mark(step: int) -> None:
        accuracies.append(accuracy(model, *data.test, size, device=device))
        if step > 0:
            out.update({f"w{step}:{n}": p.detach().cpu().numpy().copy() for n, p in model.stages.named_parameters()})

    if marks[0] == 0:
        mark(0)
    for step in range(1, steps + 1):
        x, y = data.batch(batch)
        loss = F.cross_entropy(model.run(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if step in marks:
            mark(step)
        if progress:
            progress(step * batch)
    out.update(checkpoint_steps=np.array(marks), loss=np.array(losses, np.float32),
               accuracy=np.array(accuracies, np.float64))
    return out


def checkpoint_sha256(arrays: dict[str, np.ndarray], step: int) -> str:
    """Return the SHA-256 of checkpoint `step`'s weights (names and bytes, in name order)."""
    names = sorted(k for k in arrays if k.startswith(f"w{step}:"))
    if not names:
        raise KeyError(f"no checkpoint at step {step}; stored: {list(arrays.get('checkpoint_steps', []))}")
    h = hashlib.sha256()
    for k in names:
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k], np.float32).tobytes())
    return h.hexdigest()


def checkpoint_model(name: str, arrays: dict[str, np.ndarray], step: int) -> Model:
    """Return model `name` with checkpoint `step`'s weights (its fresh head included), frozen in eval mode."""
    model = load_model(name)
    if step == 0:
        return model
    model = _with_head(model, arrays[f"w{step}:{len(model.stages) - 1}.fc.weight"].shape[0], 0)
    with torch.no_grad():
        for n, p in model.stages.named_parameters():
            key = f"w{step}:{n}"
            if key not in arrays:
                raise KeyError(f"checkpoint {step} lacks {n!r}: not a fine-tune of {name}")
            p.copy_(torch.from_numpy(arrays[key]))
    model.stages.eval()
    model.stages.requires_grad_(False)
    return model
