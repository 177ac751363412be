"""Baseline: decode every video frame with PyAV and convert it to RGB, nothing else.

This is the floor any frame-by-frame method pays; a decoder faster than this must skip work
(frames, colour conversion) rather than do the same work faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True)
class FullDecodeResult:
    duration_s: float
    frames_decoded: int


def full_decode(path: Path, threads: int = 0) -> FullDecodeResult:
    """Decode all frames of the first video stream to rgb24 ndarrays; `threads` 0 lets FFmpeg choose."""
    frames = 0
    last_t = 0.0
    with av.open(str(path), "r") as container:
        stream = container.streams.video[0]
        # Frame plus slice threading, like the project's decoder, so the comparison is like for like.
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        declared = float(container.duration) / av.time_base if container.duration else 0.0
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            frames += 1
            if frame.time is not None:
                last_t = max(last_t, float(frame.time))
        rate = float(stream.average_rate) if stream.average_rate else 0.0
    end = last_t + (1.0 / rate if rate else 0.0)
    return FullDecodeResult(duration_s=declared or end, frames_decoded=frames)
