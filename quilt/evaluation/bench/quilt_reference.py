"""Quilt's frame-extraction method, reimplemented from its description for benchmarking.

OpenCV decodes every frame; consecutive frames are compared with scikit-image SSIM on a few
random 64x64 grey crops (the same crop positions in both frames); a frame is "stable" when the
mean crop SSIM reaches 0.98, and a run of stable frames lasting at least 3 s yields the
pixel-wise median of its frames. Time is frame index / nominal fps, as a constant-rate reader
assumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import structural_similarity


@dataclass(frozen=True)
class ReferenceParams:
    crop_size: int = 64
    crops_per_pair: int = 3
    ssim_threshold: float = 0.98
    min_duration_s: float = 3.0
    # Keeping every frame of a 10-minute still would need gigabytes; an evenly thinned sample of
    # this many frames gives the same median for a static slide with bounded memory.
    max_median_frames: int = 64
    seed: int = 0  # crop positions are random but reproducible


@dataclass
class ReferenceChunk:
    t_start: float
    t_end: float
    image: np.ndarray  # HxWx3 uint8 RGB median frame


@dataclass
class ReferenceResult:
    duration_s: float
    frames_decoded: int
    chunks: list[ReferenceChunk] = field(default_factory=list)


class _Run:
    """Frames of the current stable run; thinned by halving so at most ~max_frames are held."""

    def __init__(self, first_index: int, max_frames: int) -> None:
        self.first_index = first_index
        self.length = 0
        self.stride = 1
        self.max_frames = max_frames
        self.frames: list[np.ndarray] = []

    def add(self, bgr: np.ndarray) -> None:
        if self.length % self.stride == 0:
            self.frames.append(bgr)
            if len(self.frames) > self.max_frames:
                self.frames = self.frames[::2]
                self.stride *= 2
        self.length += 1

    def median_rgb(self) -> np.ndarray:
        median = np.median(np.stack(self.frames), axis=0).astype(np.uint8)
        return cv2.cvtColor(median, cv2.COLOR_BGR2RGB)


def crop_ssim(prev: np.ndarray, cur: np.ndarray, rng: np.random.Generator, params: ReferenceParams) -> float:
    """Mean SSIM of `crops_per_pair` random square crops taken at the same place in both grey frames."""
    height, width = cur.shape
    side_y, side_x = min(params.crop_size, height), min(params.crop_size, width)
    scores = []
    for _ in range(params.crops_per_pair):
        y = int(rng.integers(0, height - side_y + 1))
        x = int(rng.integers(0, width - side_x + 1))
        scores.append(structural_similarity(prev[y:y + side_y, x:x + side_x], cur[y:y + side_y, x:x + side_x],
                                            data_range=255))
    return float(np.mean(scores))


def _close(run: _Run | None, fps: float, params: ReferenceParams, out: list[ReferenceChunk]) -> None:
    if run is None or run.length / fps + 1e-6 < params.min_duration_s:
        return
    start = run.first_index / fps
    out.append(ReferenceChunk(start, start + run.length / fps, run.median_rgb()))


def reference_chunks(path: Path, params: ReferenceParams | None = None, threads: int = 0) -> ReferenceResult:
    """Run the reference method over every frame of `path`; `threads` 0 lets OpenCV/FFmpeg choose."""
    params = params or ReferenceParams()
    if threads:
        cv2.setNumThreads(threads)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads])
    if not capture.isOpened():
        raise ValueError(f"OpenCV cannot open {path}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    rng = np.random.default_rng(params.seed)
    chunks: list[ReferenceChunk] = []
    run: _Run | None = None
    prev_grey: np.ndarray | None = None
    index = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            stable = prev_grey is not None and prev_grey.shape == grey.shape and \
                crop_ssim(prev_grey, grey, rng, params) >= params.ssim_threshold
            if run is None or not stable:
                _close(run, fps, params, chunks)
                run = _Run(index, params.max_median_frames)
            run.add(bgr)
            prev_grey = grey
            index += 1
    finally:
        capture.release()
    _close(run, fps, params, chunks)
    return ReferenceResult(duration_s=index / fps, frames_decoded=index, chunks=chunks)
