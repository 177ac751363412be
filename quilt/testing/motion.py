"""Per-frame renderers for lecture segments that move: pans, zooms, a presenter camera, annotations.

Each renderer yields `n_frames` RGB uint8 frames of the output size. They are deterministic
for a given seed so tests can regenerate the same lecture.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw
from skimage import data as skdata

from quilt.testing import slides as slide_images


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


def large_image(kind: str, seed: int, size: tuple[int, int]) -> np.ndarray:
    """A big picture to pan or zoom over: H&E (default), IHC or a text slide."""
    if kind == "ihc":
        return slide_images.ihc_slide(seed, size)
    if kind == "text":
        return slide_images.text_slide("Panning over notes", ["Hepatocytes", "Bile duct", "Portal triad"], size)
    return slide_images.histology_slide(seed, size)


def pan_frames(kind: str, seed: int, size: tuple[int, int], n_frames: int, fps: int,
               px_per_s: float) -> Iterator[np.ndarray]:
    """A crop window sliding diagonally (mostly sideways) across a large image at `px_per_s`."""
    width, height = size
    travel = px_per_s * n_frames / fps
    dx, dy = travel * 0.95, travel * 0.3
    source = large_image(kind, seed, (width + int(dx) + 2, height + int(dy) + 2))
    for i in range(n_frames):
        frac = i / max(n_frames - 1, 1)
        x, y = int(round(frac * dx)), int(round(frac * dy))
        yield np.ascontiguousarray(source[y:y + height, x:x + width])


def zoom_frames(kind: str, seed: int, size: tuple[int, int], n_frames: int, fps: int,
                pct_per_s: float) -> Iterator[np.ndarray]:
    """A slow zoom into the centre of an image: the visible field shrinks by `pct_per_s` % a second."""
    width, height = size
    source = large_image(kind, seed, (width * 2, height * 2))
    for i in range(n_frames):
        scale = max(0.3, 1.0 - pct_per_s / 100.0 * i / fps)
        cw, ch = int(round(width * 2 * scale)), int(round(height * 2 * scale))
        x0, y0 = (width * 2 - cw) // 2, (height * 2 - ch) // 2
        yield _resize(np.ascontiguousarray(source[y0:y0 + ch, x0:x0 + cw]), size)


def presenter_frames(seed: int, size: tuple[int, int], n_frames: int, fps: int) -> Iterator[np.ndarray]:
    """A live camera on a person: swaying, gesturing, with sensor noise and flicker on every frame."""
    width, height = size
    margin = max(16, width // 10)
    source = _resize(skdata.astronaut(), (width + 2 * margin, height + 2 * margin))
    rng = np.random.default_rng(seed + 7000)
    walk = np.zeros(2)
    phase = rng.uniform(0, 2 * np.pi, 2)
    for i in range(n_frames):
        t = i / fps
        walk = np.clip(walk + rng.normal(0, 1.5, 2), -margin / 3, margin / 3)
        # Sway with a ~3 s period: the camera never sees the same picture for long.
        off = walk + (margin * 0.6) * np.sin(2 * np.pi * t / np.array([3.1, 4.3]) + phase)
        x, y = int(np.clip(margin + off[0], 0, 2 * margin)), int(np.clip(margin + off[1], 0, 2 * margin))
        frame = source[y:y + height, x:x + width].astype(np.float32)
        # A hand waving in front of the body.
        img = Image.fromarray(frame.astype(np.uint8))
        hx = width * (0.5 + 0.25 * np.sin(2 * np.pi * t / 1.7))
        hy = height * (0.65 + 0.1 * np.cos(2 * np.pi * t / 1.3))
        r = width * 0.05
        ImageDraw.Draw(img).ellipse((hx - r, hy - r, hx + r, hy + r * 1.3), fill=(224, 172, 140))
        frame = np.asarray(img, dtype=np.float32)
        frame = frame * rng.uniform(0.95, 1.05) + rng.normal(0, 4.0, frame.shape)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def draw_annotation(image: np.ndarray, seed: int) -> np.ndarray:
    """A red circle or arrow, like a lecturer marking a region (~2-3% of the frame)."""
    height, width = image.shape[:2]
    rng = np.random.default_rng(seed + 5000)
    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    r = 0.06 * width
    line = max(2, width // 120)
    if seed % 2:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(230, 20, 20), width=line)
    else:
        tip = (cx, cy)
        tail = (cx - 2 * r, cy - 1.2 * r)
        draw.line((tail, tip), fill=(230, 20, 20), width=line)
        draw.polygon((tip, (cx - 0.6 * r, cy - 0.1 * r), (cx - 0.3 * r, cy - 0.6 * r)), fill=(230, 20, 20))
    return np.asarray(img, dtype=np.uint8).copy()


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Cross-fade: (1 - alpha) * a + alpha * b."""
    return np.clip((1.0 - alpha) * a.astype(np.float32) + alpha * b.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
