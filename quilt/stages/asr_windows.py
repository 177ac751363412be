"""Transcribing audio that arrives as consecutive windows, so no stage holds a whole lecture's audio.

Each window is transcribed on its own and its times are shifted by the window's
start. Words cut at a seam are not merged yet: overlapping windows with merging
at the seams belong to the ASR issue.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from quilt.stages.asr import Transcriber
from quilt.stages.types import Segment, Word


def shift_segments(segments: list[Segment], offset_s: float) -> list[Segment]:
    return [
        Segment(start=s.start + offset_s, end=s.end + offset_s, text=s.text,
                words=[Word(w.text, w.start + offset_s, w.end + offset_s, w.probability) for w in s.words])
        for s in segments
    ]


def transcribe_windows(transcriber: Transcriber, windows: Iterable[tuple[float, np.ndarray]],
                       sample_rate: int = 16000) -> Iterator[list[Segment]]:
    """Yield the segments of each window, in video time, as soon as that window is done."""
    for t_start, samples in windows:
        if samples.size:
            yield shift_segments(transcriber.transcribe(samples, sample_rate), t_start)
