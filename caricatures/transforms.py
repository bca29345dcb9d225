"""Random transforms applied each optimization step: one draw, the same for every image in the batch.

lucid's `standard_transforms` (pad 12 with 0.5 → jitter 8 → scale {0.90 … 1.10} → rotate {−10 … 10}° and
five extra 0° → jitter 4), then a centred crop or pad back to the model size, as lucid's caricature recipe
does. `apply_affine` composes all of it into one `affine_grid` + `grid_sample` (bilinear); `apply_sequential`
is the step-by-step reference with the same geometry. Outside the photo every pixel is 0.5: lucid pads with
0.5 but fills its rotation corners and final pad with 0, an artifact we do not copy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

FILL = 0.5


@dataclass(frozen=True)
class TransformSpec:
    pad: int
    jitter: int
    scales: tuple[float, ...]
    angles: tuple[float, ...]   # degrees
    jitter2: int


PRESETS = {
    "standard": TransformSpec(12, 8, tuple(1 + (i - 5) / 50 for i in range(11)),
                              tuple(range(-10, 11)) + (0,) * 5, 4),
    # lucid's earlier caricature notebook.
    "notebook": TransformSpec(8, 8, (0.9, 0.95, 1.05, 1.1) + (1.0,) * 4, tuple(range(-5, 5)) + (0,) * 5, 2),
}


@dataclass(frozen=True)
class Draw:
    """One step's random choices: crop offsets (y, x) of both jitters, the scale and the angle in degrees."""
    offset: tuple[int, int]
    scale: float
    angle: float
    offset2: tuple[int, int]


def _sizes(spec: TransformSpec, draw: Draw, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return the (h, w) after the first jitter and after scaling."""
    jh, jw = h + 2 * spec.pad - spec.jitter, w + 2 * spec.pad - spec.jitter
    return (jh, jw), (int(draw.scale * jh), int(draw.scale * jw))


def _center_offset(size_in: int, size_out: int) -> int:
    """Offset of a centred crop (positive) or pad (negative), as tf.image.resize_image_with_crop_or_pad."""
    return (size_in - size_out) // 2 if size_in >= size_out else -((size_out - size_in) // 2)


def _shift(dx: float, dy: float) -> torch.Tensor:
    return torch.tensor([[1.0, 0, dx], [0, 1.0, dy], [0, 0, 1.0]], dtype=torch.float64)


def _rotation(angle: float, h: int, w: int) -> torch.Tensor:
    """Rotation by `angle` degrees about the centre of an h×w image, in pixel coordinates."""
    a = math.radians(angle)
    rot = torch.tensor([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]],
                       dtype=torch.float64)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return _shift(cx, cy) @ rot @ _shift(-cx, -cy)


def pixel_matrix(spec: TransformSpec, draw: Draw, h: int, w: int, out: tuple[int, int]) -> torch.Tensor:
    """Return the 3×3 map from output pixel (x, y, 1) to source pixel coordinates (pixel centres at integers)."""
    (jh, jw), (kh, kw) = _sizes(spec, draw, h, w)
    k2h, k2w = kh - spec.jitter2, kw - spec.jitter2
    to_rotated = _shift(_center_offset(k2w, out[1]) + draw.offset2[1],
                        _center_offset(k2h, out[0]) + draw.offset2[0])
    scale = torch.tensor([[jw / kw, 0, 0], [0, jh / kh, 0], [0, 0, 1.0]], dtype=torch.float64)
    unscale = _shift(-0.5, -0.5) @ scale @ _shift(0.5, 0.5)
    to_source = _shift(draw.offset[1] - spec.pad, draw.offset[0] - spec.pad)
    return to_source @ unscale @ _rotation(draw.angle, kh, kw) @ to_rotated


def _normalizer(h: int, w: int) -> torch.Tensor:
    """Pixel coordinates → grid_sample's [-1, 1] coordinates (align_corners=False)."""
    return torch.tensor([[2.0 / w, 0, 1.0 / w - 1], [0, 2.0 / h, 1.0 / h - 1], [0, 0, 1.0]], dtype=torch.float64)


def _sample(x: torch.Tensor, m: torch.Tensor, out: tuple[int, int]) -> torch.Tensor:
    """Resample x at pixel map m (output → source) bilinearly, with FILL outside x."""
    theta = _normalizer(*x.shape[-2:]) @ m @ torch.linalg.inv(_normalizer(*out))
    grid = F.affine_grid(theta[None, :2].to(x.device, torch.float32), [1, 1, *out], align_corners=False)
    # Sampling x − 0.5 with zero padding, then adding 0.5 back, is bilinear sampling with a 0.5 border.
    y = F.grid_sample(x - FILL, grid.expand(x.shape[0], -1, -1, -1), mode="bilinear", padding_mode="zeros",
                      align_corners=False)
    return y + FILL


def apply_affine(x: torch.Tensor, spec: TransformSpec, draw: Draw, out: tuple[int, int]) -> torch.Tensor:
    """Apply a draw to a (B, 3, H, W) batch with one affine_grid + grid_sample; return (B, 3, *out)."""
    return _sample(x, pixel_matrix(spec, draw, *x.shape[-2:], out), out)


def _center_crop_or_pad(x: torch.Tensor, out: tuple[int, int]) -> torch.Tensor:
    for dim, size in ((-2, out[0]), (-1, out[1])):
        off = _center_offset(x.shape[dim], size)
        if off >= 0:
            x = x.narrow(dim, off, size)
        else:
            before, after = -off, size - x.shape[dim] + off
            pads = (before, after, 0, 0) if dim == -1 else (0, 0, before, after)
            x = F.pad(x, pads, value=FILL)
    return x


def apply_sequential(x: torch.Tensor, spec: TransformSpec, draw: Draw, out: tuple[int, int]) -> torch.Tensor:
    """Apply a draw step by step (pad, crop, resize, rotate, crop, crop/pad): the reference for apply_affine."""
    p, (oy, ox), (o2y, o2x) = spec.pad, draw.offset, draw.offset2
    (jh, jw), (kh, kw) = _sizes(spec, draw, *x.shape[-2:])
    x = F.pad(x, (p, p, p, p), value=FILL)[..., oy:oy + jh, ox:ox + jw]
    x = F.interpolate(x, size=(kh, kw), mode="bilinear", align_corners=False)
    if draw.angle:
        x = _sample(x, _rotation(draw.angle, kh, kw), (kh, kw))
    x = x[..., o2y:o2y + kh - spec.jitter2, o2x:o2x + kw - spec.jitter2]
    return _center_crop_or_pad(x, out)


class RandomTransform:
    """Seeded random transforms: `draw()` picks one step's choices, `t(x, draw)` applies them to a batch."""

    def __init__(self, spec: TransformSpec, out: int | tuple[int, int], seed: int = 0, fast: bool = True):
        self.spec, self.fast = spec, fast
        self.out = (out, out) if isinstance(out, int) else tuple(out)
        self.gen = torch.Generator().manual_seed(seed)

    def _pick(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.gen))

    def draw(self) -> Draw:
        """Draw the next step's offsets, scale and angle."""
        s, j = self.spec, self.spec.jitter
        offset = (self._pick(j + 1), self._pick(j + 1))
        scale, angle = s.scales[self._pick(len(s.scales))], s.angles[self._pick(len(s.angles))]
        return Draw(offset, scale, float(angle), (self._pick(s.jitter2 + 1), self._pick(s.jitter2 + 1)))

    def __call__(self, x: torch.Tensor, draw: Draw | None = None) -> torch.Tensor:
        draw = self.draw() if draw is None else draw
        return (apply_affine if self.fast else apply_sequential)(x, self.spec, draw, self.out)


class Identity:
    """No transform: the image goes to the model as it is (resized to `out` if needed)."""

    def __init__(self, out: int | tuple[int, int]):
        self.out = (out, out) if isinstance(out, int) else tuple(out)

    def draw(self) -> None:
        return None

    def __call__(self, x: torch.Tensor, draw: None = None) -> torch.Tensor:
        if tuple(x.shape[-2:]) == self.out:
            return x
        return F.interpolate(x, size=self.out, mode="bilinear", align_corners=False)


def build_transforms(kind: str | TransformSpec | None, out: int | tuple[int, int], seed: int = 0,
                     fast: bool = True) -> RandomTransform | Identity:
    """Build transforms from a preset name ("standard", "notebook"), a TransformSpec, or None (identity)."""
    if kind is None or kind == "none":
        return Identity(out)
    if isinstance(kind, str):
        if kind not in PRESETS:
            raise ValueError(f"unknown transforms {kind!r}; choose one of {', '.join(PRESETS)} or none")
        kind = PRESETS[kind]
    return RandomTransform(kind, out, seed, fast)
