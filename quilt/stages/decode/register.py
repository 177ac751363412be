"""The picture of a chunk whose frames moved: frames shifted into register before their median.

A pixel-wise median of frames that shake by a few pixels averages neighbouring pixels and blurs
the micrograph. Here each kept frame's shift against the middle one is measured at full
resolution (phase correlation on a grey central crop), each frame is moved by that many whole
pixels (borders repeat the edge), and only then is the median taken.
"""

from __future__ import annotations

import numpy as np

from quilt.core.imaging import to_grey
from quilt.stages.decode.median import median_frames
from quilt.stages.decode.motion import estimate_shift, reference

# Side of the central crop the full-resolution shift is measured on: it holds shifts of up to
# half its size (the decoder ends a run long before that) and costs ~1 ms a frame.
_CROP = 256


def _grey_crop(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    ch, cw = min(_CROP, height), min(_CROP, width)
    y0, x0 = (height - ch) // 2, (width - cw) // 2
    return to_grey(frame[y0:y0 + ch, x0:x0 + cw])


def _moved(frame: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`frame` moved up by `dy` and left by `dx` pixels (undoing a shift of (dy, dx)), edges repeated."""
    if dy == 0 and dx == 0:
        return frame
    height, width = frame.shape[:2]
    pad = ((abs(dy), abs(dy)), (abs(dx), abs(dx))) + ((0, 0),) * (frame.ndim - 2)
    padded = np.pad(frame, pad, mode="edge")
    y0, x0 = abs(dy) + dy, abs(dx) + dx
    return np.ascontiguousarray(padded[y0:y0 + height, x0:x0 + width])


def registered_median(frames: list[np.ndarray]) -> np.ndarray:
    """Median of equally shaped RGB frames after moving each into register with the middle one."""
    if len(frames) <= 1:
        return median_frames(frames)
    base = reference(_grey_crop(frames[len(frames) // 2]))
    aligned = []
    for frame in frames:
        dy, dx = estimate_shift(base, reference(_grey_crop(frame)))
        aligned.append(_moved(frame, int(round(dy)), int(round(dx))))
    return median_frames(aligned)
