"""Within-video dedup: a slide shown again later (A, B, A) becomes one chunk with two intervals."""

from __future__ import annotations

import numpy as np
from PIL import Image

from quilt.core.imaging import hamming
from quilt.core.types import FrameChunk
from quilt.stages.decode.params import DecodeParams
from quilt.stages.decode.stability import robust_ssim

_THUMB = (96, 72)
# A run split by a glitch (e.g. a brief full-screen flash) resumes this soon after: extend the
# previous interval instead of recording a second showing.
_JOIN_GAP_S = 0.75


def _thumb(image: np.ndarray) -> np.ndarray:
    grey = Image.fromarray(np.ascontiguousarray(image[..., :3])).convert("L").resize(_THUMB, Image.Resampling.BILINEAR)
    return np.asarray(grey)  # uint8: a long lecture keeps one per distinct slide until merging ends


def _same(a: FrameChunk, a_thumb: np.ndarray, b: FrameChunk, b_thumb: np.ndarray, params: DecodeParams) -> bool:
    # The hash alone confuses similar-looking tissue at 64 bits; the SSIM check confirms.
    if not a.phash or not b.phash or hamming(a.phash, b.phash) > params.dedup_max_hamming:
        return False
    return robust_ssim(a_thumb, b_thumb, params.trim_fraction) >= params.dedup_min_ssim


def merge_repeats(chunks: list[FrameChunk], params: DecodeParams) -> list[FrameChunk]:
    """Merge chunks that show the same picture; keeps order by first appearance and the sharper image."""
    kept: list[FrameChunk] = []
    thumbs: list[np.ndarray] = []
    for chunk in sorted(chunks, key=lambda c: c.t_start):
        thumb = _thumb(chunk.image)
        match = next((i for i, other in enumerate(kept) if _same(other, thumbs[i], chunk, thumb, params)), None)
        if match is None:
            kept.append(chunk.with_spans(chunk.spans()))
            thumbs.append(thumb)
            continue
        target = kept[match]
        spans = target.intervals
        for start, end in chunk.spans():
            if start - spans[-1][1] <= _JOIN_GAP_S and start >= spans[-1][0]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        spans.sort()
        target.t_start, target.t_end = spans[0]
        if chunk.sharpness > target.sharpness:
            target.take_picture_of(chunk)
            thumbs[match] = thumb
    return kept
