"""Within-video dedup: a slide shown again later (A, B, A) becomes one chunk with two intervals.

Pieces of one picture that something brief split apart (a pointer sweeping across it, a hand in
front of the camera, a flash) become one chunk with one interval spanning the interruption, so
a sentence spoken across it still finds its picture. A shaking camera leaves the pieces a few
pixels apart: they are compared after undoing that shift.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from quilt.core.imaging import hamming
from quilt.core.types import FrameChunk
from quilt.stages.decode import motion
from quilt.stages.decode.params import DecodeParams
from quilt.stages.decode.stability import robust_ssim

_THUMB = (96, 72)
# A run split by a glitch (e.g. a brief full-screen flash) resumes this soon after: extend the
# previous interval instead of recording a second showing.
_JOIN_GAP_S = 0.75
# Pieces of one picture with nothing else shown between them are one showing when the break
# is this short (a pointer sweeping over it, an occlusion): the picture stayed the subject.
_BRIEF_BREAK_S = 2.0


def _thumb(image: np.ndarray) -> np.ndarray:
    grey = Image.fromarray(np.ascontiguousarray(image[..., :3])).convert("L").resize(_THUMB, Image.Resampling.BILINEAR)
    return np.asarray(grey)  # uint8: a long lecture keeps one per distinct slide until merging ends


def _same(a: FrameChunk, a_thumb: np.ndarray, b: FrameChunk, b_thumb: np.ndarray, params: DecodeParams) -> bool:
    # The hash alone confuses similar-looking tissue at 64 bits; the SSIM check confirms.
    if not a.phash or not b.phash or hamming(a.phash, b.phash) > params.dedup_max_hamming:
        return False
    if robust_ssim(a_thumb, b_thumb, params.trim_fraction) >= params.dedup_min_ssim:
        return True
    # Two pieces of a shaking view sit a few pixels apart: compare them in register.
    first, second = a_thumb.astype(np.float32), b_thumb.astype(np.float32)
    shift = motion.estimate_shift(motion.reference(first), motion.reference(second))
    # Each piece's picture is registered to its own middle frame: up to twice a run's wander apart.
    if float(np.hypot(*shift)) > 2 * params.max_offset * max(first.shape):
        return False
    return robust_ssim(*motion.aligned_pair(first, second, shift), params.trim_fraction) >= params.dedup_min_ssim


def merge_repeats(chunks: list[FrameChunk], params: DecodeParams) -> list[FrameChunk]:
    """Merge chunks that show the same picture; keeps order by first appearance and the sharper image."""
    kept: list[FrameChunk] = []
    thumbs: list[np.ndarray] = []
    latest = -1  # index in `kept` of the picture shown last
    for chunk in sorted(chunks, key=lambda c: c.t_start):
        thumb = _thumb(chunk.image)
        match = next((i for i, other in enumerate(kept) if _same(other, thumbs[i], chunk, thumb, params)), None)
        if match is None:
            kept.append(chunk.with_spans(chunk.spans()))
            thumbs.append(thumb)
            latest = len(kept) - 1
            continue
        target = kept[match]
        spans = target.intervals
        join_gap = _BRIEF_BREAK_S if match == latest else _JOIN_GAP_S
        for start, end in chunk.spans():
            if start - spans[-1][1] <= join_gap and start >= spans[-1][0]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        spans.sort()
        target.t_start, target.t_end = spans[0]
        latest = match
        if chunk.sharpness > target.sharpness:
            target.take_picture_of(chunk)
            thumbs[match] = thumb
    return kept
