"""Lecture slides with a picture inside (title, caption, coloured template), with the picture's true box.

Rendered here, apart from the project's lecture generators, so the region finder is not checked only
against the media it was built with: besides quilt/testing's tissue helpers, one tissue kind is a crop
of scikit-image's IHC photograph and one is drawn with stain vectors the project's generators never use.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import gaussian_filter
from skimage import data as skdata
from skimage.color import combine_stains

from quilt.testing.slides import histology_slide
from quilt.testing.tissue_set import stained_tissue

Box = tuple[int, int, int, int]
SIZE = (854, 480)  # (width, height): a 480p lecture frame
TISSUE_KINDS = ("histology_slide", "stained_tissue", "skimage_ihc", "other_stain_vectors")
BACKGROUNDS = ((255, 255, 255), (31, 56, 100), (232, 240, 250), (112, 48, 160), (250, 244, 230))
WORDS = ("gland", "stroma", "nuclei", "mitosis", "carcinoma", "lumen", "necrosis", "Figure", "biopsy", "x20")

# H and E absorbances as another lab's scanner gives them (not skimage's defaults), rows per stain, RGB optical density.
OTHER_STAINS = np.array([[0.56, 0.77, 0.30], [0.21, 0.93, 0.30], [0.27, 0.57, 0.78]])


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


def _other_stain_tissue(seed: int, size: tuple[int, int]) -> np.ndarray:
    """Blobby nuclei in fibrous stroma, coloured through stain vectors that are not H&E, DAB or the generators'."""
    rng = np.random.default_rng(seed)
    w, h = size
    impulses = (rng.random((h, w)) < 0.012).astype(np.float64)
    nuclei = np.clip(gaussian_filter(impulses, 2.5) * 60.0, 0.0, 1.0)
    stroma = gaussian_filter(rng.standard_normal((h, w)), (1.0, 5.0))
    stroma = 0.2 + 0.4 * (stroma - stroma.min()) / max(float(np.ptp(stroma)), 1e-9)
    # combine_stains counts concentration in units of ln(1e6) optical density: 0.1 is a dark nucleus.
    conc = np.stack([0.09 * nuclei, 0.06 * stroma * (1.0 - nuclei), np.zeros((h, w))], axis=-1)
    rgb = combine_stains(conc, np.asarray(OTHER_STAINS / np.linalg.norm(OTHER_STAINS, axis=1, keepdims=True)))
    return (np.clip(rgb + rng.normal(0, 0.01, rgb.shape), 0, 1) * 255).astype(np.uint8)


def tissue(kind: str, seed: int, size: tuple[int, int]) -> np.ndarray:
    """A tissue picture of `size` (width, height) rendered by one of TISSUE_KINDS."""
    if kind == "histology_slide":
        return histology_slide(seed, size)
    if kind == "stained_tissue":
        return _resize(stained_tissue(seed, (size[0] // 2, size[1] // 2), ("he", "ihc", "pas")[seed % 3]), size)
    if kind == "skimage_ihc":
        source = skdata.immunohistochemistry()
        rng = np.random.default_rng(seed)
        y, x = int(rng.integers(0, 200)), int(rng.integers(0, 200))
        return _resize(np.ascontiguousarray(source[y:y + 300, x:x + 300 * size[0] // size[1]]), size)
    if kind == "other_stain_vectors":
        return _other_stain_tissue(seed, size)
    raise ValueError(kind)


def _slide(background: tuple[int, int, int], seed: int) -> tuple[Image.Image, ImageDraw.ImageDraw, tuple[int, ...]]:
    img = Image.new("RGB", SIZE, background)
    ink = (0, 0, 0) if sum(background) > 380 else (255, 255, 255)
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(seed)
    draw.text((30, 18), " ".join(rng.choice(WORDS, 4)).title(), fill=ink, font=_font(34))
    return img, draw, ink


def picture_slide(kind: str, seed: int, position: str = "left") -> tuple[np.ndarray, Box]:
    """A slide with a title, a tissue picture covering about half the frame, a caption and bullets beside it."""
    rng = np.random.default_rng(seed)
    background = BACKGROUNDS[seed % len(BACKGROUNDS)]
    img, draw, ink = _slide(background, seed)
    pw, ph = int(SIZE[0] * rng.uniform(0.5, 0.6)), int(SIZE[1] * rng.uniform(0.62, 0.72))
    x0 = {"left": 30, "right": SIZE[0] - pw - 30, "centre": (SIZE[0] - pw) // 2}[position]
    y0 = 70
    img.paste(Image.fromarray(tissue(kind, seed, (pw, ph))), (x0, y0))
    draw.text((x0, y0 + ph + 10), "Figure 1. " + " ".join(rng.choice(WORDS, 5)), fill=ink, font=_font(18))
    if position != "centre":
        tx = x0 + pw + 25 if position == "left" else 30
        for i in range(4):
            draw.text((tx, y0 + 20 + 40 * i), "- " + " ".join(rng.choice(WORDS, 2)), fill=ink, font=_font(22))
    return np.asarray(img, dtype=np.uint8).copy(), (x0, y0, x0 + pw, y0 + ph)


def two_panel_slide(seed: int) -> tuple[np.ndarray, Box]:
    """Two tissue panels side by side under a title, a caption below; the box spans both panels."""
    rng = np.random.default_rng(seed)
    img, draw, ink = _slide(BACKGROUNDS[seed % len(BACKGROUNDS)], seed)
    gutter, pw, ph, y0 = 14, 370, 300, 80
    x0 = (SIZE[0] - 2 * pw - gutter) // 2
    kinds = (TISSUE_KINDS[seed % 4], TISSUE_KINDS[(seed + 1) % 4])
    for k, kind in enumerate(kinds):
        img.paste(Image.fromarray(tissue(kind, seed + k, (pw, ph))), (x0 + k * (pw + gutter), y0))
    draw.text((x0, y0 + ph + 12), "A. " + " ".join(rng.choice(WORDS, 3)) + "   B. " + " ".join(rng.choice(WORDS, 3)),
              fill=ink, font=_font(18))
    return np.asarray(img, dtype=np.uint8).copy(), (x0, y0, x0 + 2 * pw + gutter, y0 + ph)


def two_picture_slide(seed: int) -> tuple[np.ndarray, list[Box]]:
    """Two separate micrographs on one slide (a wide gap, each with its own caption): one box each."""
    rng = np.random.default_rng(seed)
    img, draw, ink = _slide(BACKGROUNDS[seed % len(BACKGROUNDS)], seed)
    pw, ph, y0 = 330, 260, 90
    xs = (40, SIZE[0] - pw - 40)
    boxes = []
    for k, x0 in enumerate(xs):
        kind = TISSUE_KINDS[(seed + 2 * k) % len(TISSUE_KINDS)]
        img.paste(Image.fromarray(tissue(kind, seed + 10 * k, (pw, ph))), (x0, y0))
        draw.text((x0, y0 + ph + 10), f"{'AB'[k]}. " + " ".join(rng.choice(WORDS, 2)), fill=ink, font=_font(18))
        boxes.append((x0, y0, x0 + pw, y0 + ph))
    return np.asarray(img, dtype=np.uint8).copy(), boxes


def text_only_slide(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img, draw, ink = _slide(BACKGROUNDS[seed % len(BACKGROUNDS)], seed)
    for i in range(7):
        draw.text((50, 90 + 50 * i), "- " + " ".join(rng.choice(WORDS, 5)), fill=ink, font=_font(28))
    return np.asarray(img, dtype=np.uint8).copy()


def person_slide(seed: int) -> np.ndarray:
    """A photo of a person (the astronaut) on half the slide, bullets beside it."""
    rng = np.random.default_rng(seed)
    img, draw, ink = _slide(BACKGROUNDS[seed % len(BACKGROUNDS)], seed)
    img.paste(Image.fromarray(_resize(skdata.astronaut(), (400, 340))), (SIZE[0] - 430, 80))
    for i in range(5):
        draw.text((40, 100 + 50 * i), "- " + " ".join(rng.choice(WORDS, 2)), fill=ink, font=_font(24))
    return np.asarray(img, dtype=np.uint8).copy()


def chart_slide(seed: int) -> np.ndarray:
    """A bar chart with axes and labels on a slide."""
    rng = np.random.default_rng(seed)
    img, draw, ink = _slide(BACKGROUNDS[seed % len(BACKGROUNDS)], seed)
    x0, y0, x1, y1 = 80, 90, 780, 420
    draw.line((x0, y0, x0, y1, x1, y1), fill=ink, width=3)
    for i, v in enumerate(rng.uniform(0.2, 1.0, 8)):
        left = x0 + 15 + i * 85
        draw.rectangle((left, y1 - v * (y1 - y0), left + 60, y1 - 2), fill=((200, 60, 120), (90, 60, 170))[i % 2])
        draw.text((left + 20, y1 + 8), str(i + 1), fill=ink, font=_font(18))
    return np.asarray(img, dtype=np.uint8).copy()


def desktop_slide(seed: int) -> np.ndarray:
    """A desktop screenshot: title bar, icons, a file list window and a photo thumbnail."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", SIZE, (58, 110, 165))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, SIZE[1] - 36, SIZE[0], SIZE[1]), fill=(30, 30, 34))
    for i in range(6):
        draw.rectangle((20, 20 + 70 * i, 64, 64 + 70 * i), fill=tuple(int(c) for c in rng.integers(40, 255, 3)))
    draw.rectangle((150, 40, 800, 400), fill=(245, 245, 247), outline=(90, 90, 90))
    draw.rectangle((150, 40, 800, 68), fill=(200, 200, 205))
    for i in range(12):
        draw.text((165, 80 + 26 * i), " ".join(rng.choice(WORDS, 3)) + ".svs", fill=(20, 20, 20), font=_font(16))
    img.paste(Image.fromarray(_resize(skdata.coffee(), (240, 180))), (540, 100))
    return np.asarray(img, dtype=np.uint8).copy()
