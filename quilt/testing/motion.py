"""Per-frame renderers for lecture segments that move: pans, zooms, a presenter camera, annotations,
a shaking or drifting camera on one field, a slow zoom with a pan.

Each renderer yields `n_frames` RGB uint8 frames of the output size. They are deterministic
for a given seed so tests can regenerate the same lecture.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import av
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


def _still_source(kind: str, seed: int, size: tuple[int, int], margin: int) -> np.ndarray:
    """The still picture a moving camera looks at, with `margin` pixels of picture around the view."""
    width, height = size
    return large_image(kind, seed, (width + 2 * margin, height + 2 * margin))


def shake_offsets(seed: int, n_frames: int, amplitude: float) -> np.ndarray:
    """Per-frame (dy, dx) offsets of a handheld camera: random, within +-`amplitude` pixels, zero mean."""
    rng = np.random.default_rng(seed + 9000)
    return rng.uniform(-amplitude, amplitude, size=(n_frames, 2))


def shake_frames(kind: str, seed: int, size: tuple[int, int], n_frames: int,
                 amplitude: float = 3.0, drift_px_per_s: float = 0.0, fps: int = 10) -> Iterator[np.ndarray]:
    """One field seen through a shaking camera: each frame moved by a random whole-pixel offset of up
    to +-`amplitude` px (a hand tremor, a live microscope feed), plus an optional slow drift of
    `drift_px_per_s` (sideways), like a stage creeping under the objective."""
    margin = int(np.ceil(amplitude + abs(drift_px_per_s) * n_frames / max(fps, 1))) + 2
    source = _still_source(kind, seed, size, margin)
    width, height = size
    for i, (dy, dx) in enumerate(shake_offsets(seed, n_frames, amplitude)):
        x = margin + int(round(dx + drift_px_per_s * i / max(fps, 1)))
        y = margin + int(round(dy))
        yield np.ascontiguousarray(source[y:y + height, x:x + width])


def still_view(kind: str, seed: int, size: tuple[int, int], amplitude: float = 3.0) -> np.ndarray:
    """The unshaken view `shake_frames` (same kind, seed, size, amplitude, no drift) moves around."""
    margin = int(np.ceil(amplitude)) + 2
    width, height = size
    return np.ascontiguousarray(_still_source(kind, seed, size, margin)[margin:margin + height, margin:margin + width])


def zoom_pan_frames(kind: str, seed: int, size: tuple[int, int], n_frames: int, fps: int,
                    pct_per_s: float, pan_px_per_s: float) -> Iterator[np.ndarray]:
    """A slow zoom with a small sideways pan: the field shrinks by `pct_per_s` % a second while its
    centre slides by `pan_px_per_s` (in output pixels)."""
    width, height = size
    source = large_image(kind, seed, (width * 2, height * 2))
    for i in range(n_frames):
        t = i / fps
        scale = max(0.3, 1.0 - pct_per_s / 100.0 * t) * 0.8
        cw, ch = int(round(width * 2 * scale)), int(round(height * 2 * scale))
        cx = width + pan_px_per_s * t * 2 * scale
        x0 = int(np.clip(round(cx - cw / 2), 0, width * 2 - cw))
        y0 = (height * 2 - ch) // 2
        yield _resize(np.ascontiguousarray(source[y0:y0 + ch, x0:x0 + cw]), size)


def write_video(path: Path, frames: Iterable[np.ndarray], size: tuple[int, int], fps: int = 10) -> None:
    """Encode RGB frames of `size` as an H.264 MP4 (no audio), as make_lecture does for its slides."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "23"}
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def field_move_frames(kind: str, seed: int, size: tuple[int, int], n_before: int, n_after: int,
                      move_px: int, amplitude: float = 3.0) -> Iterator[np.ndarray]:
    """A shaking view of one field, then of the field `move_px` to its right (the stage moved on)."""
    width, height = size
    margin = int(np.ceil(amplitude)) + 2
    source = large_image(kind, seed, (width + 2 * margin + move_px, height + 2 * margin))
    offsets = shake_offsets(seed, n_before + n_after, amplitude)
    for i, (dy, dx) in enumerate(offsets):
        x = margin + (move_px if i >= n_before else 0) + int(round(dx))
        y = margin + int(round(dy))
        yield np.ascontiguousarray(source[y:y + height, x:x + width])
