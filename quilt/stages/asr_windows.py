"""Transcribing audio that arrives as consecutive windows, so no stage holds a whole lecture's audio.

Window k is transcribed together with the first `overlap_s` seconds of window k+1, so a word
spoken across the boundary is heard whole at least once. The seam between k and k+1 is put in
the middle of that overlap: window k keeps the words whose midpoint lies before it, window k+1
those whose midpoint lies after. A word cut at the end of window k's extended audio lies past
the seam (window k+1 heard it whole) and a word cut at the start of window k+1 lies before it
(window k heard it whole), so each word appears once and uncut.
"""

from __future__ import annotations

import math
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


def _mid(start: float, end: float) -> float:
    return (start + end) / 2.0


def clip_segments(segments: list[Segment], lo_s: float, hi_s: float) -> list[Segment]:
    """Keep the words whose midpoint is in [lo_s, hi_s); segments losing words get text and times rebuilt.

    Segments without word timings (word_timestamps off) are kept or dropped whole by their midpoint.
    """
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            if lo_s <= _mid(seg.start, seg.end) < hi_s:
                out.append(seg)
            continue
        kept = [w for w in seg.words if lo_s <= _mid(w.start, w.end) < hi_s]
        if len(kept) == len(seg.words):
            out.append(seg)  # untouched: keep Whisper's own text (spacing, punctuation)
        elif kept:
            out.append(Segment(kept[0].start, kept[-1].end, " ".join(w.text for w in kept), kept))
    return out


def merge_at_seam(left: list[Segment], right: list[Segment], seam_s: float) -> tuple[list[Segment], list[Segment]]:
    """Split two overlapping transcripts (in the same time base) at `seam_s`: left before, right from it on."""
    return clip_segments(left, -math.inf, seam_s), clip_segments(right, seam_s, math.inf)


def _lookahead(windows: Iterable[tuple[float, np.ndarray]]) -> Iterator[
        tuple[tuple[float, np.ndarray], tuple[float, np.ndarray] | None]]:
    """(window, next window or None): never more than two windows alive."""
    it = iter(windows)
    cur = next(it, None)
    while cur is not None:
        nxt = next(it, None)
        yield cur, nxt
        cur = nxt


def transcribe_windows(transcriber: Transcriber, windows: Iterable[tuple[float, np.ndarray]],
                       sample_rate: int = 16000, overlap_s: float = 2.0,
                       initial_prompt: str | None = None) -> Iterator[list[Segment]]:
    """Yield each window's final segments, in video time, as soon as that window is transcribed.

    `windows` are consecutive and non-overlapping (t_start, samples at `sample_rate`). The last
    window is transcribed without extension. `initial_prompt` follows the Transcriber convention
    (None: the transcriber's default prompt, "": none).
    """
    overlap_n = max(0, int(round(overlap_s * sample_rate)))
    left_seam = -math.inf
    for (t_start, samples), nxt in _lookahead(windows):
        right_seam = math.inf
        audio = samples
        if nxt is not None:
            ext = nxt[1][:overlap_n]
            # Half of the overlap actually available (the next window may be shorter than overlap_s),
            # so the seam never lies beyond what this window heard.
            right_seam = nxt[0] + ext.size / sample_rate / 2.0
            audio = np.concatenate([samples, ext]) if ext.size else samples
        if audio.size:
            segments = shift_segments(transcriber.transcribe(audio, sample_rate, initial_prompt=initial_prompt),
                                      t_start)
            yield clip_segments(segments, left_seam, right_seam)
        left_seam = right_seam
