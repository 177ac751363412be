"""Stable-run detection on sampled frames: Quilt's SSIM >= 0.98 rule made robust for real lectures.

The caller feeds one sampled frame at a time (its time, grey thumbnail and a way to get the
full RGB frame). Only runs' median candidates are ever converted to RGB, and a run keeps at
most `max_median_frames` of them, so memory does not grow with the video's length.

Camera motion: a frame that fails the comparison as it is gets a second chance after its
global shift against the run's first frame is undone (phase correlation, motion.py), and a
third after a slow zoom is undone as well. So a handheld camera or a live microscope feed that
shakes by a few pixels, or a view that creeps or zooms slowly, is one chunk, while a view that
wandered further than `max_offset` (or zoomed more than `max_zoom`) from where the run began
counts as another field and ends it; cuts, fades and a presenter camera still change the
picture after any shift. A run whose frames moved is pictured by the median of its frames
moved into register (register.py), one that zoomed by its sharpest frame: never by a median
of misaligned frames, which blurs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

from quilt.core.imaging import phash, sharpness
from quilt.core.types import FrameChunk
from quilt.stages.decode import motion
from quilt.stages.decode.median import median_frames
from quilt.stages.decode.params import DecodeParams
from quilt.stages.decode.register import registered_median
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


def _zoom_margin(zoom: float, shape: tuple[int, ...]) -> int:
    """Pixels at each border of a thumbnail whose zoom by `zoom` was undone that only repeat the edge."""
    return int(np.ceil(abs(zoom - 1.0) * max(shape) / 2.0)) + 1


def _softened_inner(thumb: np.ndarray, margin: int) -> np.ndarray:
    """`thumb` without `margin` pixels at each border, softened like a resampled thumbnail (motion.soften)."""
    return motion.soften(thumb[margin:thumb.shape[0] - margin, margin:thumb.shape[1] - margin])


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
        self.anchor_ref = motion.reference(anchor) if anchor is not None else None
        self.moved = False  # some frame sat measurably off the first one: register before the median
        self.zoomed = False  # the view zoomed: no median at all, the sharpest frame
        self.drifted_from_previous = False  # began where the view crept past the previous run's bounds
        # Where the view's creeping began, for DecodeParams.chain_drift_pieces (else t_start).
        self.chain_start = t_start
        # Every piece of the creep so far lasted chain_min_piece_s: a slow drift, not a pan.
        self.slow_creep = True

    def wants(self) -> bool:
        """Whether the next frame (index `count`) would be kept; lets the caller skip RGB conversion."""
        return self.count % self.stride == 0

    def add(self, t: float, rgb: Any, shift: tuple[float, float] = (0.0, 0.0), zoom: float = 1.0) -> None:
        if rgb is not None:
            self.frames.append(rgb)
            if len(self.frames) > self.max_frames:
                # Halve the density instead of growing: memory stays bounded for hour-long stills.
                self.frames = self.frames[::2]
                self.stride *= 2
        self.moved = self.moved or max(abs(shift[0]), abs(shift[1])) >= motion.NEGLIGIBLE_SHIFT
        self.zoomed = self.zoomed or zoom != 1.0
        self.t_last = t
        self.count += 1

    def image(self) -> np.ndarray:
        # Candidates may still be undecoded frames: only the survivors of thinning get converted.
        frames = [f() if callable(f) else f for f in self.frames[-self.max_frames:]]
        # A median of frames that moved would blur: they are brought into register first, and
        # frames of a zoom (which no shift registers) give way to the sharpest of them.
        if self.zoomed:
            return max(frames, key=sharpness)
        return registered_median(frames) if self.moved else median_frames(frames)


class ChunkFinder:
    """Turns a stream of sampled frames into stable chunks (before within-video dedup)."""

    def __init__(self, params: DecodeParams) -> None:
        self.params = params
        self.chunks: list[FrameChunk] = []
        self._prev: np.ndarray | None = None
        self._run: Run | None = None
        self._drifted = False

    def _passes(self, a: np.ndarray, b: np.ndarray, shift: tuple[float, float], step: bool) -> bool:
        """`b` like `a` after undoing `shift`, by the consecutive-frame (`step`) or the first-frame rule."""
        p = self.params
        score, changed = compare(*motion.aligned_pair(a, b, shift), p.trim_fraction)
        if step:
            return score >= p.ssim_threshold and changed <= p.step_max_changed
        return score >= p.anchor_threshold and changed <= p.anchor_max_changed

    def _similar(self, prev: np.ndarray, thumb: np.ndarray, anchor: np.ndarray,
                 step: tuple[float, float] = (0.0, 0.0), shift: tuple[float, float] = (0.0, 0.0)) -> bool:
        """Quilt's rule made robust: `thumb` like the previous sample and like the run's first one,
        each compared after undoing the given shift (none for a still camera)."""
        if not self._passes(prev, thumb, step, step=True):
            return False
        # The second frame of a run was already compared with the anchor.
        return prev is anchor or self._passes(anchor, thumb, shift, step=False)

    def _passes_unzoomed(self, a: np.ndarray, unzoomed: np.ndarray, shift: tuple[float, float], margin: int,
                         step: bool) -> bool:
        """`_passes` for a thumbnail whose zoom was undone: both compared softened, without the repeated edge."""
        return self._passes(_softened_inner(a, margin), _softened_inner(unzoomed, margin), shift, step=step)

    def _drifted_on(self, prev: np.ndarray, prev_ref: motion.Reference, thumb: np.ndarray,
                    current: motion.Reference, bound: float) -> bool:
        """Whether `thumb` is `prev` moved (or zoomed) a little further: the view creeping on, not a jump or a cut."""
        step = motion.estimate_shift(prev_ref, current)
        if float(np.hypot(*step)) > bound:
            return False
        if self._passes(prev, thumb, step, step=True):
            return True
        zoom, step, like_prev = motion.estimate_zoom(prev_ref, thumb, motion.STEP_ZOOM_STEPS)
        return float(np.hypot(*step)) <= bound and self._passes_unzoomed(
            prev, like_prev, step, _zoom_margin(zoom, thumb.shape), step=True)

    def _continues(self, thumb: np.ndarray) -> tuple[bool, tuple[float, float], float]:
        """Whether `thumb` continues the run, its shift and its magnification against the run's first frame.

        Sets `self._drifted` when the run ends only because the view crept past the bounds."""
        run, prev = self._run, self._prev
        still = (0.0, 0.0)
        if run is None or prev is None or run.anchor is None or run.anchor_ref is None:
            return False, still, 1.0
        if prev.shape != thumb.shape:
            return False, still, 1.0
        # A still camera first, exactly as before: no motion is estimated for it, so stills cost
        # nothing more, and a pointer or a text slide's blank areas cannot fake a shift.
        if self._similar(prev, thumb, run.anchor):
            return True, still, 1.0
        p = self.params
        bound = p.max_offset * max(thumb.shape)
        current = motion.reference(thumb)
        prev_ref = run.anchor_ref if prev is run.anchor else motion.reference(prev)
        shift = motion.estimate_shift(run.anchor_ref, current)
        # Too far from where the run began: another field of view (a pan, a move of the stage).
        if float(np.hypot(*shift)) > bound:
            self._drifted = self._drifted_on(prev, prev_ref, thumb, current, bound)
            return False, shift, 1.0
        step = shift if prev is run.anchor else motion.estimate_shift(prev_ref, current)
        if self._similar(prev, thumb, run.anchor, step, shift):
            return True, shift, 1.0
        if p.max_zoom <= 0:
            return False, shift, 1.0
        # A slow zoom (often with a small pan) changes the picture after any shift: undo it too.
        zoom, shift, unzoomed = motion.estimate_zoom(run.anchor_ref, thumb)
        if abs(zoom - 1.0) > p.max_zoom or float(np.hypot(*shift)) > bound:
            self._drifted = abs(zoom - 1.0) <= 2 * p.max_zoom and self._drifted_on(prev, prev_ref, thumb, current,
                                                                                      bound)
            return False, shift, zoom
        margin = _zoom_margin(zoom, thumb.shape)
        if prev is run.anchor:
            return self._passes_unzoomed(run.anchor, unzoomed, shift, margin, step=True), shift, zoom
        _, step, like_prev = motion.estimate_zoom(prev_ref, thumb, motion.STEP_ZOOM_STEPS)
        similar = (self._passes_unzoomed(prev, like_prev, step, margin, step=True)
                   and self._passes_unzoomed(run.anchor, unzoomed, shift, margin, step=False))
        return similar, shift, zoom

    def push(self, t: float, thumb: np.ndarray, get_rgb: Callable[[], np.ndarray]) -> None:
        """Feed one sampled frame shown from time `t` on."""
        self._drifted = False
        similar, shift, zoom = self._continues(thumb)
        self._prev = thumb
        run = self._run
        if run is not None and similar and run.frames and not run.wants():
            run.add(t, None, shift, zoom)
            return
        # A lazy frame (with a .shape) is converted to RGB only if it survives into a median.
        rgb = get_rgb if hasattr(get_rgb, "shape") else get_rgb()
        # A resolution change mid-stream also ends a run: the median needs equal shapes.
        if run is None or not similar or (run.frames and run.frames[0].shape != rgb.shape):
            # For constant frame rates t == t_last + 1/sample_fps (Quilt's rule); for
            # variable-rate screen recordings a still may be one frame shown for seconds.
            before = self._run
            self._close(t)
            run = self._run = Run(t, self.params.max_median_frames, anchor=thumb)
            run.drifted_from_previous = self._drifted
            if self._drifted and self.params.chain_drift_pieces and before is not None:
                run.slow_creep = before.slow_creep and t - before.t_start + _EPS >= self.params.chain_min_piece_s
                if run.slow_creep:
                    run.chain_start = before.chain_start
            shift, zoom = (0.0, 0.0), 1.0
        run.add(t, rgb, shift, zoom)

    def _close(self, t_end: float) -> None:
        """Close the current run, whose picture stayed on screen until `t_end`."""
        run, self._run = self._run, None
        if run is None or not run.frames:
            return
        if t_end - run.chain_start + _EPS < self.params.min_duration_s:
            return
        last = self.chunks[-1] if self.chunks else None
        if run.drifted_from_previous and last is not None and abs(last.t_end - run.t_start) < _EPS:
            # The view crept on from the chunk just closed (a long slow drift or zoom): still that
            # field, so that chunk goes on, pictured as it was when the view settled on it.
            last.t_end = t_end
            return
        image = run.image()
        chunk = FrameChunk(t_start=run.chain_start, t_end=t_end, image=image, sharpness=sharpness(image),
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
