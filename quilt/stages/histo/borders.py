"""Letterbox and pillarbox bars: the black bands a screen recording or a capture card adds around the picture.

A micrograph shown in a 2.35:1 or 4:3 window inside a 16:9 video arrives with black bars, and
after video compression those bars are no longer exactly black: ringing leaves values up to
~15 near the picture's edge. The histology classifier must not judge the bars (black next to
brown DAB reads like a photo), and the UI-chrome crop, which looks for flat panels, misses
them once they are noisy. So the bars are found on their own: whole rows (or columns) at the
frame's edges that are dark all the way across.
"""

from __future__ import annotations

import numpy as np

from quilt.core.boxes import Box
from quilt.core.imaging import to_grey

# A bar row is dark all across: its 95th percentile at most this (codec ringing reaches ~15 in
# an H.264 or JPEG black bar; a dim micrograph's row has bright pixels somewhere).
BAR_MAX_P95 = 36.0
MIN_BAR_SHARE = 0.03  # bars thinner than this share of the side are an edge, not a letterbox
MIN_CONTENT_SHARE = 0.3  # what is left must be at least this share of each side


def _leading(dark: np.ndarray) -> int:
    """How many leading entries of a boolean line profile are True."""
    return int(np.argmin(dark)) if not dark.all() else int(dark.size)


def letterbox_box(frame: np.ndarray) -> Box | None:
    """The picture inside letterbox or pillarbox bars, (x0, y0, x1, y1); None when the frame has no bars."""
    arr = np.asarray(frame)
    if arr.ndim not in (2, 3) or min(arr.shape[:2]) < 16:
        return None
    grey = to_grey(arr[::2, ::2]) if arr.ndim == 3 else arr[::2, ::2].astype(np.float32)
    h, w = grey.shape
    # Each row's and each column's 95th percentile, once: the bars are counted from both ends of these.
    dark_rows = np.percentile(grey, 95, axis=1) <= BAR_MAX_P95
    dark_cols = np.percentile(grey, 95, axis=0) <= BAR_MAX_P95
    top, bottom = _leading(dark_rows), _leading(dark_rows[::-1])
    left, right = _leading(dark_cols), _leading(dark_cols[::-1])
    if top + bottom >= h or left + right >= w:
        return None  # a black frame: nothing inside
    # A side counts only with a real bar; a thin dark edge (a scanner border) is left alone.
    top, bottom = (v if v >= MIN_BAR_SHARE * h else 0 for v in (top, bottom))
    left, right = (v if v >= MIN_BAR_SHARE * w else 0 for v in (left, right))
    if not (top or bottom or left or right):
        return None
    if (h - top - bottom) < MIN_CONTENT_SHARE * h or (w - left - right) < MIN_CONTENT_SHARE * w:
        return None
    full_h, full_w = arr.shape[:2]
    return (min(full_w, left * 2), min(full_h, top * 2), max(0, full_w - right * 2), max(0, full_h - bottom * 2))
