"""What moves in a field lecture: frame sources for one segment each.

A scene yields the frames of its segment. Still slides repeat one picture; the nuisances move:
  ShakeScene    a live microscope feed: the field jitters by a few pixels every frame;
  DriftScene    a slow zoom with a small pan over one field;
  WebcamScene   a still picture with the presenter's webcam in a corner (the person moves);
  PresenterScene  the presenter full screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass
class StillScene:
    picture: np.ndarray

    def frames(self, count: int, fps: int) -> Iterator[np.ndarray]:
        for _ in range(count):
            yield self.picture


@dataclass
class ShakeScene:
    """`field` is larger than the frame by 2 * `amplitude` pixels each way; the view wanders inside it."""

    field: np.ndarray
    size: tuple[int, int]
    amplitude: int
    seed: int

    def frames(self, count: int, fps: int) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        width, height = self.size
        # A slow tremor plus frame-to-frame jitter, as a hand on the stage or a loose camera mount gives.
        drift = np.zeros(2)
        for _ in range(count):
            drift = 0.85 * drift + rng.normal(0, self.amplitude * 0.35, 2)
            offset = np.clip(drift + rng.normal(0, self.amplitude * 0.3, 2), -self.amplitude, self.amplitude)
            x, y = int(round(self.amplitude + offset[0])), int(round(self.amplitude + offset[1]))
            yield np.ascontiguousarray(self.field[y:y + height, x:x + width])


@dataclass
class DriftScene:
    """Zoom in by `zoom_per_s` (a share of the view per second) while panning `pan_px_s` pixels a second."""

    field: np.ndarray  # 1.25x the frame or more, so the pan never leaves it
    size: tuple[int, int]
    zoom_per_s: float
    pan_px_s: tuple[float, float]

    def frames(self, count: int, fps: int) -> Iterator[np.ndarray]:
        width, height = self.size
        field_h, field_w = self.field.shape[:2]
        source = Image.fromarray(self.field)
        cx, cy = field_w / 2, field_h / 2
        for i in range(count):
            t = i / fps
            scale = max(1.0 - self.zoom_per_s * t, 0.5)
            view_w, view_h = width * scale, height * scale
            x = float(np.clip(cx + self.pan_px_s[0] * t - view_w / 2, 0, field_w - view_w))
            y = float(np.clip(cy + self.pan_px_s[1] * t - view_h / 2, 0, field_h - view_h))
            yield np.asarray(source.resize(self.size, Image.Resampling.BILINEAR, box=(x, y, x + view_w, y + view_h)))


def person(size: tuple[int, int], t: float, seed: int) -> np.ndarray:
    """A webcam picture of someone talking: a room, a head that sways, a mouth that moves, sensor noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    wall = tuple(int(v) for v in rng.integers(120, 210, 3))
    image = Image.new("RGB", size, wall)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(height * 0.75), width, height), fill=tuple(int(v * 0.6) for v in wall))
    sway = np.sin(t * rng.uniform(0.8, 1.6)) * width * 0.04 + np.sin(t * 5.3) * width * 0.008
    cx, cy = width / 2 + sway, height * 0.42 + np.sin(t * 2.1) * height * 0.01
    r = height * 0.17
    shirt = tuple(int(v) for v in rng.integers(20, 200, 3))
    draw.ellipse((cx - 2.4 * r, cy + 1.2 * r, cx + 2.4 * r, cy + 4.5 * r), fill=shirt)
    skin = tuple(int(v) for v in rng.choice([(225, 185, 160), (180, 130, 100), (120, 80, 60)]))
    draw.ellipse((cx - 0.8 * r, cy - r, cx + 0.8 * r, cy + r), fill=skin)
    draw.chord((cx - 0.85 * r, cy - 1.1 * r, cx + 0.85 * r, cy + 0.2 * r), 180, 360, fill=(50, 35, 25))
    for side in (-1, 1):
        draw.ellipse((cx + side * 0.35 * r - 4, cy - 0.1 * r - 3, cx + side * 0.35 * r + 4, cy - 0.1 * r + 3),
                     fill=(30, 30, 30))
    mouth = abs(np.sin(t * 9.0)) * 0.15 * r + 1
    draw.ellipse((cx - 0.25 * r, cy + 0.45 * r - mouth, cx + 0.25 * r, cy + 0.45 * r + mouth), fill=(110, 40, 40))
    grain = np.random.default_rng(int(t * 1000)).integers(-6, 7, (height, width, 3))
    noisy = np.asarray(image).astype(np.int16) + grain
    return np.clip(noisy, 0, 255).astype(np.uint8)


@dataclass
class WebcamScene:
    picture: np.ndarray
    box: tuple[int, int, int, int]  # where the webcam sits
    seed: int

    def frames(self, count: int, fps: int) -> Iterator[np.ndarray]:
        x0, y0, x1, y1 = self.box
        for i in range(count):
            frame = self.picture.copy()
            frame[y0:y1, x0:x1] = person((x1 - x0, y1 - y0), i / fps, self.seed)
            yield frame


@dataclass
class PresenterScene:
    size: tuple[int, int]
    seed: int

    def frames(self, count: int, fps: int) -> Iterator[np.ndarray]:
        for i in range(count):
            yield person(self.size, i / fps, self.seed)


Scene = StillScene | ShakeScene | DriftScene | WebcamScene | PresenterScene
