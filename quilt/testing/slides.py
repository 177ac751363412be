"""Synthetic lecture slides (RGB uint8) for test videos: histology and non-histology kinds."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import gaussian_filter
from skimage import data as skdata
from skimage.color import hed2rgb

DEFAULT_SIZE = (320, 240)  # (width, height), like PIL and the video writer


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Noise blurred to a given feature size, rescaled to [0, 1]."""
    field = gaussian_filter(rng.standard_normal(shape), sigma)
    field -= field.min()
    return field / max(float(field.max()), 1e-9)


def histology_slide(seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """H&E-like tissue: purple nuclei on pink, fibrous stroma, a few pale lumens.

    Built as stain concentrations and turned into colour with hed2rgb so the hue
    statistics resemble real H&E, which is what a histology classifier keys on.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    shape = (height, width)
    # Stroma: coarse density plus stretched fine texture to suggest collagen fibres.
    coarse = _smooth_noise(rng, shape, sigma=12)
    fibres = gaussian_filter(rng.standard_normal(shape), sigma=(0.8, 4.0))
    fibres = (fibres - fibres.min()) / max(float(np.ptp(fibres)), 1e-9)
    eosin = 0.008 + 0.05 * coarse**1.5 + 0.025 * fibres
    # Lumens (glands/vessels) are nearly unstained holes.
    yy, xx = np.mgrid[0:height, 0:width]
    lumen = np.zeros(shape, dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(8, 25), rng.uniform(10, 35)
        lumen |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1.0
    eosin[lumen] *= 0.15
    # Nuclei: many small ellipses, denser where the tissue is denser.
    hema = np.zeros(shape)
    n_nuclei = int(width * height / 180)
    for _ in range(n_nuclei):
        cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
        if lumen[cy, cx] or coarse[cy, cx] < rng.uniform(0.1, 0.8):
            continue
        r = rng.uniform(1.8, 4.0)
        y0, y1 = max(cy - 6, 0), min(cy + 7, height)
        x0, x1 = max(cx - 6, 0), min(cx + 7, width)
        sy, sx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        blob = np.exp(-((sy / r) ** 2 + (sx / (r * rng.uniform(0.7, 1.4))) ** 2))
        hema[y0:y1, x0:x1] = np.maximum(hema[y0:y1, x0:x1], blob * rng.uniform(0.6, 1.0))
    hema = 0.004 + 0.09 * gaussian_filter(hema, 0.6)
    stains = np.stack([hema, eosin, np.zeros(shape)], axis=-1)
    rgb = hed2rgb(stains)
    rgb += rng.normal(0, 0.01, rgb.shape)  # sensor grain so it does not look vector-drawn
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def ihc_slide(seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """A random crop of skimage's immunohistochemistry (DAB) sample, resized."""
    source = skdata.immunohistochemistry()
    rng = np.random.default_rng(seed)
    width, height = size
    crop_h = min(source.shape[0], int(rng.integers(256, 384)))
    crop_w = min(source.shape[1], int(crop_h * width / height))
    y = int(rng.integers(0, source.shape[0] - crop_h + 1))
    x = int(rng.integers(0, source.shape[1] - crop_w + 1))
    return _resize(np.ascontiguousarray(source[y:y + crop_h, x:x + crop_w]), size)


def text_slide(title: str, lines: list[str] | tuple[str, ...] = (),
               size: tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """Black text on white, the typical title/outline slide that is not histology."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    try:
        title_font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=22)
        body_font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        title_font = body_font = ImageFont.load_default()
    draw.text((16, 16), title, fill="black", font=title_font)
    draw.line((16, 48, size[0] - 16, 48), fill="black", width=2)
    for i, line in enumerate(lines):
        draw.text((24, 60 + 22 * i), f"- {line}", fill="black", font=body_font)
    return np.asarray(img, dtype=np.uint8).copy()


def photo_slide(size: tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """A photo of a person (the 'presenter' shot), not histology."""
    return _resize(skdata.astronaut(), size)
