"""Slide designs of the field lectures: themes, fonts, title bars, captions, logos, and picture layouts.

Every layout returns the still picture of a slide and the boxes (x0, y0, x1, y1, in frame pixels)
where micrographs sit in it, so the truth can say where the tissue is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from quilt.testing.field_lectures.tissue import tissue_field

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Theme:
    """One deck's look."""

    name: str
    background: tuple[int, int, int]
    bar: tuple[int, int, int]  # title bar
    title_ink: tuple[int, int, int]
    ink: tuple[int, int, int]
    accent: tuple[int, int, int]  # logo, bullets, footer rule
    title_scale: float  # title size as a share of the frame height


THEMES = (
    Theme("navy", (18, 32, 64), (10, 20, 44), (250, 210, 90), (225, 230, 240), (90, 170, 230), 0.07),
    Theme("paper", (246, 244, 236), (128, 24, 40), (255, 255, 255), (40, 40, 40), (128, 24, 40), 0.06),
    Theme("teal", (0, 96, 100), (0, 70, 74), (255, 255, 255), (235, 250, 250), (255, 160, 60), 0.075),
    Theme("slate", (52, 56, 62), (30, 32, 36), (140, 220, 140), (230, 230, 230), (140, 220, 140), 0.065),
    Theme("sand", (236, 220, 190), (90, 70, 40), (250, 240, 220), (60, 45, 25), (200, 90, 30), 0.055),
)


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` pixels."""
    return ImageFont.load_default(size=max(size, 8))


def _canvas(theme: Theme, size: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", size, theme.background)
    return image, ImageDraw.Draw(image)


def _title(draw: ImageDraw.ImageDraw, theme: Theme, size: tuple[int, int], text: str) -> int:
    """Draw the title bar; returns its bottom edge."""
    width, height = size
    bar = int(height * (theme.title_scale + 0.05))
    draw.rectangle((0, 0, width, bar), fill=theme.bar)
    draw.text((int(width * 0.04), int(bar * 0.22)), text, font=font(int(height * theme.title_scale)),
              fill=theme.title_ink)
    return bar


def _logo(draw: ImageDraw.ImageDraw, theme: Theme, size: tuple[int, int], corner: str) -> None:
    """A department logo: a ring with initials, in a top or bottom corner."""
    width, height = size
    r = int(height * 0.035)
    cx = width - 2 * r if corner.endswith("right") else 2 * r
    cy = 2 * r if corner.startswith("top") else height - 2 * r
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=theme.accent, width=max(2, r // 5))
    draw.text((cx - r // 2, cy - r // 2), "DP", font=font(r), fill=theme.accent)


def _footer(draw: ImageDraw.ImageDraw, theme: Theme, size: tuple[int, int], page: int) -> None:
    width, height = size
    y = int(height * 0.95)
    draw.line((int(width * 0.04), y, int(width * 0.96), y), fill=theme.accent, width=max(1, height // 300))
    draw.text((int(width * 0.04), y + 2), f"Dept. of Pathology  |  {page}", font=font(int(height * 0.028)),
              fill=theme.ink)


def title_slide(theme: Theme, size: tuple[int, int], title: str, subtitle: str) -> np.ndarray:
    image, draw = _canvas(theme, size)
    width, height = size
    draw.rectangle((0, int(height * 0.38), width, int(height * 0.62)), fill=theme.bar)
    draw.text((int(width * 0.08), int(height * 0.42)), title, font=font(int(height * 0.09)), fill=theme.title_ink)
    draw.text((int(width * 0.08), int(height * 0.68)), subtitle, font=font(int(height * 0.045)), fill=theme.ink)
    _logo(draw, theme, size, "top-right")
    return np.asarray(image)


def bullet_slide(theme: Theme, size: tuple[int, int], title: str, bullets: tuple[str, ...], page: int) -> np.ndarray:
    image, draw = _canvas(theme, size)
    width, height = size
    top = _title(draw, theme, size, title)
    step = int(height * 0.1)
    for i, line in enumerate(bullets):
        y = top + step // 2 + i * step
        draw.rectangle((int(width * 0.07), y + step // 5, int(width * 0.07) + step // 5, y + 2 * step // 5),
                       fill=theme.accent)
        draw.text((int(width * 0.11), y), line, font=font(int(height * 0.05)), fill=theme.ink)
    _footer(draw, theme, size, page)
    return np.asarray(image)


def chart_slide(theme: Theme, size: tuple[int, int], title: str, seed: int, page: int) -> np.ndarray:
    """A bar chart of made-up case numbers: graphics, not tissue."""
    rng = np.random.default_rng(seed)
    image, draw = _canvas(theme, size)
    width, height = size
    top = _title(draw, theme, size, title)
    base, left = int(height * 0.85), int(width * 0.15)
    draw.line((left, top + 20, left, base), fill=theme.ink, width=2)
    draw.line((left, base, int(width * 0.9), base), fill=theme.ink, width=2)
    bars = int(rng.integers(4, 8))
    span = (int(width * 0.9) - left) // bars
    for i in range(bars):
        h = int(rng.uniform(0.2, 0.9) * (base - top - 30))
        draw.rectangle((left + i * span + span // 5, base - h, left + (i + 1) * span - span // 5, base),
                       fill=theme.accent if i % 2 else theme.title_ink)
    _footer(draw, theme, size, page)
    return np.asarray(image)


def _paste(image: Image.Image, picture: np.ndarray, box: Box, border: tuple[int, int, int] | None) -> None:
    x0, y0, x1, y1 = box
    image.paste(Image.fromarray(picture).resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR), (x0, y0))
    if border is not None:
        ImageDraw.Draw(image).rectangle((x0 - 2, y0 - 2, x1 + 1, y1 + 1), outline=border, width=2)


def framed_slide(theme: Theme, size: tuple[int, int], kind: str, seed: int, title: str, caption: str,
                 page: int) -> tuple[np.ndarray, list[Box]]:
    """One micrograph inside a slide: title above, caption below, covering about half the frame."""
    rng = np.random.default_rng(seed + 1)
    image, draw = _canvas(theme, size)
    width, height = size
    top = _title(draw, theme, size, title)
    area = rng.uniform(0.42, 0.55) * width * height
    aspect = rng.uniform(1.2, 1.6)
    pic_h = int(min(np.sqrt(area / aspect), height * 0.66))
    pic_w = int(min(pic_h * aspect, width * 0.8))
    # Left, centred or right of the slide; text beside a picture placed to one side.
    x0 = int(rng.choice([width * 0.05, (width - pic_w) / 2, width * 0.95 - pic_w]))
    y0 = top + int(height * 0.04)
    box = (x0, y0, x0 + pic_w, y0 + pic_h)
    _paste(image, tissue_field(kind, seed, (pic_w, pic_h)), box, theme.accent if rng.random() < 0.5 else None)
    draw.text((x0, box[3] + int(height * 0.015)), caption, font=font(int(height * 0.035)), fill=theme.ink)
    free_left = x0 > width * 0.3
    if x0 + pic_w < width * 0.7 or free_left:  # room beside the picture: a few words of text there
        tx = int(width * 0.05) if free_left else x0 + pic_w + int(width * 0.03)
        for i, word in enumerate(caption.split()[:4]):
            draw.text((tx, y0 + i * int(height * 0.07)), f"- {word}", font=font(int(height * 0.04)), fill=theme.ink)
    _logo(draw, theme, size, "bottom-right")
    _footer(draw, theme, size, page)
    return np.asarray(image), [box]


def two_panel_slide(theme: Theme, size: tuple[int, int], kinds: tuple[str, str], seeds: tuple[int, int],
                    title: str, caption: str, page: int) -> tuple[np.ndarray, list[Box]]:
    """Two micrographs side by side, labelled A and B."""
    image, draw = _canvas(theme, size)
    width, height = size
    top = _title(draw, theme, size, title)
    gap = int(width * 0.03)
    pic_w = (int(width * 0.92) - gap) // 2
    pic_h = min(int(pic_w * 0.8), int(height * 0.62))
    boxes: list[Box] = []
    for i, (kind, seed) in enumerate(zip(kinds, seeds, strict=True)):
        x0 = int(width * 0.04) + i * (pic_w + gap)
        box = (x0, top + int(height * 0.05), x0 + pic_w, top + int(height * 0.05) + pic_h)
        _paste(image, tissue_field(kind, seed, (pic_w, pic_h)), box, None)
        draw.text((x0 + 6, box[1] + 4), "AB"[i], font=font(int(height * 0.05)), fill=(255, 255, 255))
        boxes.append(box)
    draw.text((int(width * 0.04), boxes[0][3] + int(height * 0.02)), caption, font=font(int(height * 0.035)),
              fill=theme.ink)
    _footer(draw, theme, size, page)
    return np.asarray(image), boxes


def letterboxed(picture: np.ndarray, size: tuple[int, int], content_aspect: float) -> tuple[np.ndarray, Box]:
    """`picture` shown at `content_aspect` inside black bars (top and bottom, or left and right)."""
    width, height = size
    if content_aspect >= width / height:
        content = (width, int(round(width / content_aspect)) // 2 * 2)
    else:
        content = (int(round(height * content_aspect)) // 2 * 2, height)
    x0, y0 = (width - content[0]) // 2, (height - content[1]) // 2
    out = np.zeros((height, width, 3), np.uint8)
    out[y0:y0 + content[1], x0:x0 + content[0]] = np.asarray(
        Image.fromarray(picture).resize(content, Image.Resampling.BILINEAR))
    return out, (x0, y0, x0 + content[0], y0 + content[1])
