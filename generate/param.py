"""Image parametrizations: a `Param` unpacks as `(params, image_fn)`, image_fn() -> (B, 3, H, W) in [0, 1].

`Param.rows(idx)` is a new, independent parametrization of some of the images (the engine optimizes groups
of rows in parallel threads with it: every row's optimization is independent of the others).

The FFT parametrization follows lucid (param/spatial.py, param/color.py): a complex spectrum N(0, sd) of
shape (B, 3, h, w//2+1), scaled by 1/max(f, 1/max(w, h))^decay_power, an orthonormal inverse real FFT
(lucid's sqrt(w·h) factor cancels against its 1/(h·w) irfft), divided by 4, then mapped from a decorrelated
colour space to RGB with lucid's matrix normalized by its largest column norm, and squashed by a sigmoid.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

ImageFn = Callable[[], torch.Tensor]


@dataclass
class Param:
    """Leaf tensors (batch first) and `render(*tensors)`, which draws images from tensors of any batch size."""
    tensors: list[torch.Tensor]
    render: Callable[..., torch.Tensor]

    def __iter__(self):
        """Unpack (and index) as the pair `(params, image_fn)`."""
        return iter((self.tensors, self.image))

    def __getitem__(self, i: int):
        return (self.tensors, self.image)[i]

    def __len__(self) -> int:
        return 2

    def image(self) -> torch.Tensor:
        return self.render(*self.tensors)

    @staticmethod
    def cat(params: Sequence[Param]) -> Param:
        """Return one Param of all the images of `params` (same kind, new leaves holding copies)."""
        tensors = [torch.cat([p.tensors[i].detach() for p in params]).requires_grad_(params[0].tensors[i].requires_grad)
                   for i in range(len(params[0].tensors))]
        return Param(tensors, params[0].render)

    def rows(self, idx: Sequence[int]) -> Param:
        """Return a Param of the images `idx` (new leaves holding copies of their current values)."""
        index = torch.as_tensor(list(idx), dtype=torch.long, device=self.tensors[0].device)
        return Param([t.detach().index_select(0, index).requires_grad_(t.requires_grad) for t in self.tensors],
                     self.render)

# lucid's square root of the ImageNet colour covariance (rows: R, G, B).
COLOR_CORRELATION_SVD_SQRT = np.array(
    [[0.26, 0.09, 0.02],
     [0.27, 0.00, -0.05],
     [0.27, -0.09, 0.03]], dtype=np.float32)


def color_matrix() -> torch.Tensor:
    """Return lucid's colour decorrelation matrix divided by its largest column L2 norm (3, 3)."""
    m = COLOR_CORRELATION_SVD_SQRT
    return torch.from_numpy(m / np.linalg.norm(m, axis=0).max())


def freq_scale(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """Return the (h, w//2+1) spectrum scale 1 / max(f, 1/max(w, h))^decay_power."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    return torch.from_numpy(1.0 / np.maximum(f, 1.0 / max(w, h)) ** decay_power).float()


def to_rgb(t: torch.Tensor, decorrelate: bool = True) -> torch.Tensor:
    """Map a (B, 3, H, W) tensor in decorrelated colour space to RGB in [0, 1] (matrix per pixel, sigmoid)."""
    if decorrelate:
        t = torch.einsum("ij,bjhw->bihw", color_matrix().to(t.device, t.dtype), t)
    return torch.sigmoid(t)


def fft_image(size: int | tuple[int, int], batch: int = 1, *, sd: float = 0.01, decay_power: float = 1.0,
              decorrelate: bool = True, generator: torch.Generator | None = None,
              device: str | torch.device = "cpu") -> Param:
    """Build a batched FFT-parametrized image; the spectrum's real and imaginary parts are drawn N(0, sd)."""
    h, w = (size, size) if isinstance(size, int) else size
    # Drawn on the CPU so a seed gives the same image on every device.
    spectrum = sd * torch.randn(batch, 3, h, w // 2 + 1, 2, generator=generator)
    spectrum = spectrum.to(device).requires_grad_(True)
    scale = freq_scale(h, w, decay_power).to(device)

    def render(spectra: torch.Tensor) -> torch.Tensor:
        scaled = torch.view_as_complex(spectra) * scale
        t = torch.fft.irfft2(scaled, s=(h, w), norm="ortho") / 4.0
        return to_rgb(t, decorrelate)

    return Param([spectrum], render)


def pixel_image(size: int | tuple[int, int], batch: int = 1, *, sd: float = 0.01, decorrelate: bool = True,
                generator: torch.Generator | None = None,
                device: str | torch.device = "cpu") -> Param:
    """Build a batched plain-pixel image (values N(0, sd) before the colour map and sigmoid)."""
    h, w = (size, size) if isinstance(size, int) else size
    pixels = (sd * torch.randn(batch, 3, h, w, generator=generator)).to(device).requires_grad_(True)
    return Param([pixels], lambda p: to_rgb(p, decorrelate))


PARAMS = {"fft": fft_image, "pixel": pixel_image}


def image_param(kind: str, size: int | tuple[int, int], batch: int = 1, *, seed: int = 0,
                device: str | torch.device = "cpu", **kwargs) -> Param:
    """Build the parametrization named `kind` ("fft" or "pixel"), seeded with `seed`."""
    if kind not in PARAMS:
        raise ValueError(f"unknown parametrization {kind!r}; choose one of {', '.join(PARAMS)}")
    gen = torch.Generator().manual_seed(seed)
    return PARAMS[kind](size, batch, generator=gen, device=device, **kwargs)
