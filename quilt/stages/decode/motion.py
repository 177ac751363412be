"""Global translation between two grey thumbnails (phase correlation), and comparing them after it.

A handheld camera or a live microscope feed moves the whole picture by a few pixels from one
sampled frame to the next. Comparing such frames pixel by pixel sees a changed picture
everywhere; comparing them after undoing the shift sees the same field. Phase correlation
finds the shift from one FFT per thumbnail (the reference's transform is kept by the caller):
on a 128 px thumbnail that is about 0.2 ms, far below decoding a frame. The decoder only
estimates motion for a frame that failed the plain comparison, so a still camera never pays it.

A slow zoom is found by trying a few magnifications of the new thumbnail around its centre
(`estimate_zoom`) and keeping the one whose correlation peak is highest; it is only tried when
a frame failed the plain and the shift-compensated comparisons, so stills and shaking views
never pay for it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Below this many thumbnail pixels a shift is estimation noise: frames are compared as they
# are (no interpolation), and a run whose frames all stay within it takes the plain median.
NEGLIGIBLE_SHIFT = 0.15


@dataclass(frozen=True)
class Reference:
    """A thumbnail prepared for phase correlation: its windowed spectrum."""

    thumb: np.ndarray
    spectrum: np.ndarray


@functools.lru_cache(maxsize=8)
def _window(shape: tuple[int, ...]) -> np.ndarray:
    # A Hann window hides the picture's borders, where shaken content enters and leaves the frame.
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


def reference(thumb: np.ndarray) -> Reference:
    """Prepare `thumb` (2-D float) to have other thumbnails' shifts measured against it."""
    centred = (thumb - float(thumb.mean())) * _window(thumb.shape)
    return Reference(thumb, np.fft.rfft2(centred))


def _subpixel(values: tuple[float, float, float]) -> float:
    """Sub-pixel offset of a phase-correlation peak from its two neighbours (-1, 0, 1).

    A pure shift makes the correlation surface a sampled sinc, whose neighbour-to-peak ratio
    gives the fraction directly (Foroosh et al. 2002); a parabola fit underestimates it.
    """
    left, mid, right = values
    if mid <= 0:
        return 0.0
    if right >= left:
        return float(np.clip(right / (right + mid), 0.0, 0.5)) if right > 0 else 0.0
    return float(-np.clip(left / (left + mid), 0.0, 0.5)) if left > 0 else 0.0


def estimate_shift(ref: Reference, other: Reference) -> tuple[float, float]:
    """(dy, dx) such that `other` shows `ref`'s picture moved by that many pixels (down, right)."""
    return _correlate(ref, other)[0]


def _correlate(ref: Reference, other: Reference) -> tuple[tuple[float, float], float]:
    """The shift of `other` against `ref` and the height of its correlation peak (1 = a pure shift)."""
    cross = other.spectrum * np.conj(ref.spectrum)
    cross /= np.abs(cross) + 1e-9
    surface = np.fft.irfft2(cross, s=ref.thumb.shape)
    height, width = surface.shape
    py, px = np.unravel_index(int(np.argmax(surface)), surface.shape)
    dy = _subpixel((surface[(py - 1) % height, px], surface[py, px], surface[(py + 1) % height, px]))
    dx = _subpixel((surface[py, (px - 1) % width], surface[py, px], surface[py, (px + 1) % width]))
    # Peaks past the middle are negative shifts (the correlation wraps around).
    y = py + dy if py <= height // 2 else py + dy - height
    x = px + dx if px <= width // 2 else px + dx - width
    return (float(y), float(x)), float(surface[py, px])


def unzoom(thumb: np.ndarray, scale: float) -> np.ndarray:
    """`thumb` shrunk by `scale` about its centre: undoes a zoom in by `scale` (borders repeat the edge)."""
    if scale == 1.0:
        return thumb
    centre = (np.asarray(thumb.shape, dtype=np.float64) - 1.0) / 2.0
    return ndimage.affine_transform(thumb, np.array([scale, scale]), offset=centre * (1.0 - scale),
                                    order=1, mode="nearest")


# Magnifications tried against the run's first frame; the best is refined between its neighbours.
_ZOOM_STEPS = (0.95, 0.97, 0.985, 1.0, 1.015, 1.03, 1.05)


# Between consecutive samples (half a second apart) a slow zoom changes far less.
STEP_ZOOM_STEPS = (0.985, 1.0, 1.015)


def estimate_zoom(ref: Reference, thumb: np.ndarray,
                  steps: tuple[float, ...] = _ZOOM_STEPS) -> tuple[float, tuple[float, float], np.ndarray]:
    """(magnification, shift, `thumb` with the zoom undone) best matching `ref`'s picture."""
    peaks = [_correlate(ref, reference(unzoom(thumb, scale)))[1] for scale in steps]
    best = int(np.argmax(peaks))
    scale = steps[best]
    if 0 < best < len(steps) - 1:
        left, mid, right = peaks[best - 1], peaks[best], peaks[best + 1]
        denom = left - 2.0 * mid + right
        if denom < 0:
            step = (steps[best + 1] - steps[best - 1]) / 2.0
            scale += float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5)) * step
    undone = unzoom(thumb, scale)
    return scale, estimate_shift(ref, reference(undone)), undone


def soften(thumb: np.ndarray) -> np.ndarray:
    """A slight blur for comparing a resampled thumbnail with one that was not: it hides the
    interpolation's own smoothing, which SSIM would otherwise count as change."""
    return ndimage.gaussian_filter(thumb, 0.7)


def aligned_pair(a: np.ndarray, b: np.ndarray, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """`a` and `b` (which shows `a` moved by `shift`) brought into register, cropped to their overlap.

    Each is moved half the way: bilinear interpolation by a fraction f smooths like one by 1 - f,
    so both come out equally softened and SSIM compares content, not interpolation blur.
    """
    dy, dx = shift
    if abs(dy) < NEGLIGIBLE_SHIFT and abs(dx) < NEGLIGIBLE_SHIFT:
        return a, b
    a_moved = ndimage.shift(a, (dy / 2.0, dx / 2.0), order=1, mode="nearest")
    b_moved = ndimage.shift(b, (-dy / 2.0, -dx / 2.0), order=1, mode="nearest")
    # Rows and columns that came from outside either picture are dropped.
    my, mx = int(np.ceil(abs(dy) / 2.0)) + 1, int(np.ceil(abs(dx) / 2.0)) + 1
    height, width = a.shape
    if height <= 2 * my + 8 or width <= 2 * mx + 8:
        return a, b  # no useful overlap: compared as they are, which fails
    crop = (slice(my, height - my), slice(mx, width - mx))
    return a_moved[crop], b_moved[crop]
