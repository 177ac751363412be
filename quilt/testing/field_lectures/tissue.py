"""Micrographs for the field lectures, drawn independently of the tuning generator's tissue.

Two sources, each with its own look:
  he_field   procedural H&E by Beer-Lambert optics: a haematoxylin density map (nuclei of
             several shapes, some in rows along fibres) and an eosin map (stroma with
             streaks, pale lumens), mixed with this module's own stain vectors;
  ihc_field  a rotated, rescaled crop of scikit-image's DAB sample, unmixed and re-mixed with
             other stain vectors, so the brown and blue are not the sample's own.
A field is larger than the frame it will be shown in, so shaking or drifting views can move over it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import data as skdata
from skimage.color import rgb2hed

# Optical densities per unit stain (R, G, B): haematoxylin blue-purple, eosin pink, DAB brown.
# Chosen by eye for this generator; deliberately not scikit-image's published vectors.
_HAEMATOXYLIN = np.array([0.70, 0.95, 0.42])
_EOSIN = np.array([0.08, 0.92, 0.40])
_DAB = np.array([0.30, 0.58, 0.88])
_COUNTER = np.array([0.78, 0.66, 0.30])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _optics(densities: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> np.ndarray:
    """RGB uint8 from per-pixel stain amounts and stain vectors (transmitted light, plus sensor noise)."""
    shape = densities[0][0].shape
    od = np.zeros((*shape, 3))
    for amount, vector in densities:
        od += amount[..., None] * _unit(vector)[None, None, :]
    white = rng.uniform(236, 252, 3)  # the lamp's white balance varies from microscope to microscope
    rgb = white * np.exp(-od) + rng.normal(0, 2.5, od.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _smooth(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (field - field.mean()) / (field.std() + 1e-9)


def _nuclei(rng: np.random.Generator, shape: tuple[int, int], count: int, radius: float) -> np.ndarray:
    """Haematoxylin density of `count` nuclei: round, oval and spindle shapes with dark rims."""
    height, width = shape
    density = np.zeros(shape)
    ys, xs = np.mgrid[0:height, 0:width]
    for _ in range(count):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = radius * rng.uniform(0.6, 1.5)
        stretch = rng.choice([1.0, 1.4, 3.0], p=[0.45, 0.35, 0.2])  # round, oval, spindle
        angle = rng.uniform(0, np.pi)
        y0, y1 = int(max(cy - 3 * r * stretch, 0)), int(min(cy + 3 * r * stretch + 1, height))
        x0, x1 = int(max(cx - 3 * r * stretch, 0)), int(min(cx + 3 * r * stretch + 1, width))
        if y0 >= y1 or x0 >= x1:
            continue
        dy, dx = ys[y0:y1, x0:x1] - cy, xs[y0:y1, x0:x1] - cx
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / (r * stretch)
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / r
        d = np.sqrt(u * u + v * v)
        body = np.clip(1.2 - d, 0, 1) ** 0.5 * rng.uniform(0.9, 1.6)
        rim = np.exp(-((d - 0.85) ** 2) / 0.02) * 0.5  # chromatin against the nuclear membrane
        density[y0:y1, x0:x1] = np.maximum(density[y0:y1, x0:x1], body + rim * (d < 1.1))
    return density


def he_field(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A procedural H&E field of `size` (width, height), RGB uint8."""
    rng = np.random.default_rng(seed)
    width, height = size
    work = (max(height // 2, 32), max(width // 2, 32))  # drawn at half size, then enlarged: faster, softer
    stroma = 0.55 + 0.25 * _smooth(rng, work, rng.uniform(3, 8))
    streaks = ndimage.gaussian_filter(rng.standard_normal(work), (1.0, rng.uniform(5, 12)))
    streaks = ndimage.rotate(streaks, rng.uniform(0, 180), reshape=False, mode="reflect")
    eosin = np.clip(stroma + 0.9 * np.abs(streaks) / (np.abs(streaks).std() + 1e-9) * 0.15, 0.05, 1.4)
    lumens = _smooth(rng, work, rng.uniform(10, 20)) > rng.uniform(1.0, 1.6)  # pale empty spaces
    eosin[lumens] *= 0.12
    density = work[0] * work[1] / 1000
    haem = _nuclei(rng, work, int(density * rng.uniform(2.0, 5.0)), rng.uniform(2.0, 3.5))
    haem[lumens] *= 0.2
    haem += 0.08 + 0.04 * _smooth(rng, work, 4)
    rgb = _optics([(haem * rng.uniform(0.9, 1.3), _HAEMATOXYLIN), (eosin * rng.uniform(0.5, 0.9), _EOSIN)], rng)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))


@lru_cache(maxsize=1)
def _dab_sample() -> np.ndarray:
    """scikit-image's DAB sample, read once per process."""
    return skdata.immunohistochemistry()


def ihc_field(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A re-stained crop of the DAB sample, rotated and scaled at random, of `size` (width, height)."""
    rng = np.random.default_rng(seed)
    source = _dab_sample()
    side = int(rng.integers(200, 380))
    y, x = (int(v) for v in rng.integers(0, source.shape[0] - side, 2))
    crop = Image.fromarray(source[y:y + side, x:x + side]).rotate(float(rng.choice([0, 90, 180, 270])))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    width, height = size
    scale = max(width, height) / side
    crop = crop.resize((max(int(side * scale), width), max(int(side * scale), height)), Image.Resampling.BILINEAR)
    arr = np.asarray(crop)[:height, :width]
    hed = rgb2hed(arr)  # unmix with scikit-image, re-mix with this module's vectors and strengths
    haem = np.clip(hed[..., 0], 0, None) * rng.uniform(9, 14)
    dab = np.clip(hed[..., 2], 0, None) * rng.uniform(10, 18)
    return _optics([(haem, _COUNTER), (dab, _DAB)], rng)


def tissue_field(kind: str, seed: int, size: tuple[int, int]) -> np.ndarray:
    """kind "histology" (H&E) or "ihc"."""
    if kind == "ihc":
        return ihc_field(seed, size)
    if kind == "histology":
        return he_field(seed, size)
    raise ValueError(f"no tissue of kind {kind!r}")
