"""Image parametrizations: a `Param` unpacks as `(params, image_fn)`, image_fn() -> (B, 3, H, W) in [0, 1].

`Param.rows(idx)` is a new, independent parametrization of some of the images (the engine optimizes groups
of rows in parallel threads with it: every row's optimization is independent of the others).

The FFT parametrization follows lucid (param/spatial.py, param/color.py): a complex spectrum N(0, sd) of
shape (B, 3, h, w//2+1), scaled by 1/max(f, 1/max(w, h))^decay_power, an orthonormal inverse real FFT
(lucid's sqrt(w·h) factor cancels against its 1/(h·w) irfft), divided by 4, then mapped from a decorrelated
colour space to RGB with lucid's matrix normalized by its largest column norm, and squashed by a sigmoid.

Relatives of that parametrization, for the comparison of caricature objectives:
- photo-initialized ("fft" or "pixel" started at a photo, as feature accentuation does): `from_images` inverts
  the chain (pixels → inverse sigmoid → inverse colour matrix → the spectrum the FFT map would scale);
- "maco" (magnitude-constrained): the spectrum's magnitude is fixed to an average natural-image magnitude and
  only its phase is optimized; `natural_magnitude` averages it over the project's own photos.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

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
    return Param([spectrum], _fft_render(h, w, decay_power, decorrelate, device))


def _fft_render(h: int, w: int, decay_power: float, decorrelate: bool,
                device: str | torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    # lucid divides the image by 4 after the inverse FFT; dividing the scale instead is the same to the bit (a
    # power of two commutes with rounding and the transform is linear) and saves a pass over the image.
    scale = (freq_scale(h, w, decay_power) / 4.0).to(device)

    def render(spectra: torch.Tensor) -> torch.Tensor:
        t = torch.fft.irfft2(torch.view_as_complex(spectra) * scale, s=(h, w), norm="ortho")
        return to_rgb(t, decorrelate)
    return render


def pixel_image(size: int | tuple[int, int], batch: int = 1, *, sd: float = 0.01, decorrelate: bool = True,
                generator: torch.Generator | None = None,
                device: str | torch.device = "cpu") -> Param:
    """Build a batched plain-pixel image (values N(0, sd) before the colour map and sigmoid)."""
    h, w = (size, size) if isinstance(size, int) else size
    pixels = (sd * torch.randn(batch, 3, h, w, generator=generator)).to(device).requires_grad_(True)
    return Param([pixels], lambda p: to_rgb(p, decorrelate))


# Photos are clamped to [ε, 1 − ε] before the inverse sigmoid: 0 and 1 have no finite preimage, and a tighter
# ε would start saturated pixels where the sigmoid's gradient is nearly 0.
PHOTO_EPS = 1e-3


def from_rgb(images: torch.Tensor, decorrelate: bool = True, eps: float = PHOTO_EPS) -> torch.Tensor:
    """Invert `to_rgb`: (B, 3, H, W) in [0, 1] → the decorrelated-colour tensor that maps back to them (after
    clamping to [eps, 1 − eps])."""
    x = images.float().clamp(eps, 1 - eps)
    t = torch.log(x) - torch.log1p(-x)
    if decorrelate:
        t = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(color_matrix()).to(t.device, t.dtype), t)
    return t


def from_images(kind: str, images: torch.Tensor, *, decay_power: float = 1.0, decorrelate: bool = True,
                device: str | torch.device = "cpu") -> Param:
    """Build an "fft" or "pixel" parametrization whose images start as `images` (B, 3, H, W) in [0, 1]."""
    h, w = images.shape[-2:]
    t = from_rgb(images.to(device), decorrelate)
    if kind == "pixel":
        return Param([t.detach().clone().requires_grad_(True)], lambda p: to_rgb(p, decorrelate))
    if kind != "fft":
        raise ValueError(f"parametrization {kind!r} cannot start from a photo; use 'fft' or 'pixel'")
    spectrum = torch.fft.rfft2(4.0 * t, norm="ortho") / freq_scale(h, w, decay_power).to(device)
    return Param([torch.view_as_real(spectrum).contiguous().requires_grad_(True)],
                 _fft_render(h, w, decay_power, decorrelate, device))


def magnitude_of(images: torch.Tensor, decorrelate: bool = True) -> torch.Tensor:
    """Return the mean over `images` (B, 3, H, W) of the magnitude of the orthonormal real 2-D FFT of their
    decorrelated-colour tensors, (3, H, W//2+1): what a "maco" image keeps while its phase moves."""
    return torch.fft.rfft2(from_rgb(images, decorrelate), norm="ortho").abs().mean(0)


@cache
def natural_magnitude(size: int) -> torch.Tensor:
    """Return `magnitude_of` every credited photo of the project loaded at `size` (the natural-image spectrum)."""
    from caricatures.images import IMAGES_DIR, load_photo
    return magnitude_of(torch.stack([load_photo(IMAGES_DIR / p, size) for p in natural_photos()]))


def natural_photos() -> list[str]:
    """Return the photos `natural_magnitude` averages, relative to images/ (sorted)."""
    from caricatures.images import IMAGES_DIR, photo_credits
    return sorted(photo_credits(IMAGES_DIR))


def maco_image(size: int | tuple[int, int], batch: int = 1, *, magnitude: torch.Tensor | None = None,
               decorrelate: bool = True, generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> Param:
    """Build a batched magnitude-constrained image: spectrum magnitude · e^{iφ}, orthonormal inverse real FFT,
    decorrelated colour and sigmoid; only the phase φ (uniform in [−π, π) at the start) is a parameter.

    magnitude: (3, H, W//2+1), default `natural_magnitude(size)`. Bins that must be real (zero frequency,
    Nyquist) and the Hermitian pairs of the first and last column keep their magnitude only up to the
    inverse FFT's projection onto a real image; every other bin keeps it exactly.
    """
    h, w = (size, size) if isinstance(size, int) else size
    if magnitude is None:
        if h != w:
            raise ValueError(f"maco_image: the default magnitude is square; got size {size}, pass magnitude=")
        magnitude = natural_magnitude(h)
    if tuple(magnitude.shape) != (3, h, w // 2 + 1):
        raise ValueError(f"maco_image: magnitude shape {tuple(magnitude.shape)} != {(3, h, w // 2 + 1)}")
    phase = (torch.rand(batch, 3, h, w // 2 + 1, generator=generator) * 2 - 1) * np.pi
    phase = phase.to(device).requires_grad_(True)
    mag = magnitude.to(device)

    def render(phases: torch.Tensor) -> torch.Tensor:
        t = torch.fft.irfft2(torch.polar(mag.expand_as(phases), phases), s=(h, w), norm="ortho")
        return to_rgb(t, decorrelate)
    return Param([phase], render)


PARAMS = {"fft": fft_image, "pixel": pixel_image, "maco": maco_image}


def image_param(kind: str, size: int | tuple[int, int], batch: int = 1, *, seed: int = 0,
                device: str | torch.device = "cpu", **kwargs) -> Param:
    """Build the parametrization named `kind` ("fft", "pixel" or "maco"), seeded with `seed`."""
    if kind not in PARAMS:
        raise ValueError(f"unknown parametrization {kind!r}; choose one of {', '.join(PARAMS)}")
    gen = torch.Generator().manual_seed(seed)
    return PARAMS[kind](size, batch, generator=gen, device=device, **kwargs)
