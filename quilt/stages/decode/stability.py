"""Stable-run detection on sampled frames: Quilt's SSIM >= 0.98 rule made robust for real lectures.

The caller feeds one sampled frame at a time (its time, grey thumbnail and a way to get the
full RGB frame). Only runs' median candidates are ever converted to RGB, and a run keeps at
most `max_median_frames` of them, so memory does not grow with the video's length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

from quilt.core.imaging import phash, sharpness
from quilt.core.types import FrameChunk
from quilt.stages.decode.median import median_frames
from quilt.stages.decode.params import DecodeParams
from quilt.stages.decode.ssim import ssim_map

_EPS = 1e-6


# A local window whose SSIM falls below this has visibly changed content (codec noise on a
# still stays above ~0.9 almost everywhere).
_CHANGED_WINDOW_SSIM = 0.75
# Local marks that may come and go without ending a run: a pointer at its old and new place
# and one drawn arrow/circle. Each must fit in a box of this share of the frame.
_LOCAL_MARKS = 2
_LOCAL_MARK_AREA = 0.06


def _unexplained_change(smap: np.ndarray) -> float:
    """Share of changed windows left after ignoring up to `_LOCAL_MARKS` compact blobs.

    A pointer or an annotation is one compact blob of change; a different text slide, a pan
    or a zoom changes many separate places (every line of text), which stay counted.
    """
    mask = smap < _CHANGED_WINDOW_SSIM
    total = int(np.count_nonzero(mask))
    if total == 0:
        return 0.0
    # Dilate so the strokes of one mark form one blob.
    labels, count = ndimage.label(ndimage.binary_dilation(mask, iterations=2))
    sizes = np.bincount(labels[mask], minlength=count + 1)
    compact = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        area = (box[0].stop - box[0].start) * (box[1].stop - box[1].start)
        if area <= _LOCAL_MARK_AREA * mask.size:
            compact.append(int(sizes[index]))
    ignored = sum(sorted(compact, reverse=True)[:_LOCAL_MARKS]) if len(compact) <= _LOCAL_MARKS else 0
    return (total - ignored) / mask.size


def compare(a: np.ndarray, b: np.ndarray, trim: float) -> tuple[float, float]:
    """(robust SSIM, unexplained change) of two grey thumbnails.

    Robust SSIM is the mean SSIM after dropping the worst `trim` fraction of local windows:
    a mouse pointer or a freshly drawn arrow only spoils a few windows, which are ignored,
    while a cut, fade, pan or zoom lowers SSIM across most of the picture. The second value
    (see `_unexplained_change`) is not diluted by blank areas, so it still sees one sparse
    text slide replacing another or drifting, where the mean SSIM is dominated by white.
    """
    if a.shape != b.shape:
        return 0.0, 1.0
    smap = ssim_map(a, b)
    flat = np.asarray(smap, dtype=np.float64).reshape(-1)
    changed = _unexplained_change(np.asarray(smap))
    drop = int(flat.size * trim)
    if drop <= 0:
        return float(flat.mean()), changed
    return float(np.partition(flat, drop)[drop:].mean()), changed


def robust_ssim(a: np.ndarray, b: np.ndarray, trim: float) -> float:
    """Mean SSIM ignoring the worst `trim` fraction of local windows (see `compare`)."""
    return compare(a, b, trim)[0]


class Run:
    """The current run of similar frames; keeps at most ~max_frames evenly spaced full-res frames."""

    def __init__(self, t_start: float, max_frames: int, anchor: np.ndarray | None = None) -> None:
        self.t_start = t_start
        self.t_last = t_start
        self.count = 0
        self.stride = 1
        self.max_frames = max(1, max_frames)
        self.frames: list[Any] = []  # RGB arrays, or lazy frames converted when the median is taken
        self.anchor = anchor  # the first frame's thumbnail, to catch slow drift

    def wants(self) -> bool:
        """Whether the next frame (index `count`) would be kept; lets the caller skip RGB conversion."""
        return self.count % self.stride == 0

    def add(self, t: float, rgb: Any) -> None:
        if rgb is not None:
            self.frames.append(rgb)
            if len(self.frames) > self.max_frames:
                # Halve the density instead of growing: memory stays bounded for hour-long stills.
                self.frames = self.frames[::2]
                self.stride *= 2
        self.t_last = t
        self.count += 1

    def image(self) -> np.ndarray:
        # Candidates may still be undecoded frames: only the survivors of thinning get converted.
        frames = [f() if callable(f) else f for f in self.frames[-self.max_frames:]]
        return median_frames(frames)


class ChunkFinder:
    """Turns a stream of sampled frames into stable chunks (before within-video dedup)."""

    def __init__(self, params: DecodeParams) -> None:
        self.params = params
        self.chunks: list[FrameChunk] = []
        self._prev: np.ndarray | None = None
        self._run: Run | None = None

    def _continues(self, thumb: np.ndarray) -> bool:
        run, prev = self._run, self._prev
        if run is None or prev is None or run.anchor is None:
            return False
        p = self.params
        score, changed = compare(prev, thumb, p.trim_fraction)
        if score < p.ssim_threshold or changed > p.step_max_changed:
            return False
        if prev is run.anchor:  # the second frame of a run: already compared with the anchor
            return True
        score, changed = compare(run.anchor, thumb, p.trim_fraction)
        return score >= p.anchor_threshold and changed <= p.anchor_max_changed

    def push(self, t: float, thumb: np.ndarray, get_rgb: Callable[[], np.ndarray]) -> None:
        """Feed one sampled frame shown from time `t` on."""
        similar = self._continues(thumb)
        self._prev = thumb
        run = self._run
        if run is not None and similar and run.frames and not run.wants():
            run.add(t, None)
            return
        # A lazy frame (with a .shape) is converted to RGB only if it survives into a median.
        rgb = get_rgb if hasattr(get_rgb, "shape") else get_rgb()
        # A resolution change mid-stream also ends a run: the median needs equal shapes.
        if run is None or not similar or (run.frames and run.frames[0].shape != rgb.shape):
            # For constant frame rates t == t_last + 1/sample_fps (Quilt's rule); for
            # variable-rate screen recordings a still may be one frame shown for seconds.
            self._close(t)
            run = self._run = Run(t, self.params.max_median_frames, anchor=thumb)
        run.add(t, rgb)

    def _close(self, t_end: float) -> None:
        """Close the current run, whose picture stayed on screen until `t_end`."""
        run, self._run = self._run, None
        if run is None or not run.frames:
            return
        if t_end - run.t_start + _EPS < self.params.min_duration_s:
            return
        image = run.image()
        chunk = FrameChunk(t_start=run.t_start, t_end=t_end, image=image, sharpness=sharpness(image),
                           phash=phash(image))
        chunk.compact(spool=True)  # an hour-long lecture has hundreds of slides: keep them on disk
        self.chunks.append(chunk)

    def finish(self, end: float, declared: float) -> list[FrameChunk]:
        """Close the last run at the end of the video; `declared` (if > 0) caps it at the container length."""
        run = self._run
        if run is not None:
            t_end = max(run.t_last + 1.0 / self.params.sample_fps, end)
            self._close(min(t_end, declared) if declared > 0 else t_end)
        return self.chunks
