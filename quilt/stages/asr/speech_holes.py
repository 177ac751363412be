"""Stretches of speech inside a window that the transcript skipped, and hearing them again.

The window check (asr_windows.CoverageCheck) catches a transcript that misses much of a window's
speech. It does not catch a skip that Whisper papers over with one stretched word: on tuning
lectures tiny.en heard "and the normal kidney and" then nothing for 23 s, stamping "and" from
6.5 s to 29.6 s, so that one word "covered" every voiced frame in between; the three slides said
there gave no pair. Here a word covers at most `max_word_s` of speech (no spoken word lasts
longer), so such a stretch shows as a hole. A hole of at least `min_hole_s` of speech is heard
again on its own, with a little of the audio either side, and the redo's words replace those
stamped inside it when they account for clearly more of its speech.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quilt.core.types import Segment, Word
from quilt.stages.asr.speech_coverage import SpeechActivity, span_mask
from quilt.stages.common.repetition import looping


@dataclass(frozen=True)
class HoleCheck:
    """When a skipped stretch is heard again, and when the redo is kept."""

    max_word_s: float = 1.2  # speech a single word can account for, however long Whisper stamps it
    pad_s: float = 0.3  # slack between word times and the speech they stand for (as in coverage())
    merge_s: float = 1.0  # uncovered speech with gaps shorter than this is one hole
    min_hole_s: float = 2.0  # seconds of uncovered speech worth a second decode
    context_s: float = 1.0  # audio heard before and after the hole, so its first and last words are whole
    min_gain: float = 0.3  # the redo must cover this much more of the hole's speech
    enabled: bool = True


@dataclass(frozen=True)
class HoleRedo:
    """One hole heard again (for logs and counters), times relative to the window."""

    start: float
    end: float
    voiced_s: float
    covered_before: float
    covered_after: float
    kept: bool


def _covered(activity: SpeechActivity, words: list[Word], check: HoleCheck) -> np.ndarray:
    """Voiced frames within reach of a word, each word counting for at most `max_word_s`."""
    spans = [(w.start, min(w.end, w.start + check.max_word_s)) for w in words]
    return activity.voiced & span_mask(spans, activity.voiced.size, activity.frame_s, check.pad_s)


def find_holes(activity: SpeechActivity, segments: list[Segment],
               check: HoleCheck = HoleCheck()) -> list[tuple[float, float, float]]:
    """(start, end, uncovered voiced seconds) of each stretch of speech no word accounts for."""
    words = [w for s in segments for w in s.words]
    if any(not s.words for s in segments):
        return []  # without word times the check cannot place the words
    frame_s = activity.frame_s
    missed = np.flatnonzero(activity.voiced & ~_covered(activity, words, check))
    holes: list[tuple[float, float, float]] = []
    if missed.size == 0:
        return holes
    gap = int(round(check.merge_s / frame_s))
    breaks = np.flatnonzero(np.diff(missed) > gap)
    for part in np.split(missed, breaks + 1):
        voiced_s = part.size * frame_s
        if voiced_s >= check.min_hole_s:
            holes.append((part[0] * frame_s, (part[-1] + 1) * frame_s, voiced_s))
    return holes


def _mid(w: Word) -> float:
    return (w.start + w.end) / 2.0


def _share(activity: SpeechActivity, words: list[Word], lo: float, hi: float, check: HoleCheck) -> float:
    """Share of the voiced frames in [lo, hi) that the words account for."""
    a, b = int(lo / activity.frame_s), int(math.ceil(hi / activity.frame_s))
    voiced = activity.voiced[a:b]
    if not voiced.any():
        return 1.0
    return float(_covered(activity, words, check)[a:b].sum()) / float(voiced.sum())


def fill_holes(transcribe: Callable[[np.ndarray], list[Segment]], audio: np.ndarray, sample_rate: int,
               activity: SpeechActivity, segments: list[Segment],
               check: HoleCheck = HoleCheck()) -> tuple[list[Segment], list[HoleRedo]]:
    """The segments with each hole's words replaced by a redo of the hole alone, where that redo is better.

    `transcribe` hears a clip (times relative to the clip); `audio` is the window at `sample_rate`,
    `activity` its speech, and the segments' times are relative to it.
    """
    if not check.enabled:
        return segments, []
    redos: list[HoleRedo] = []
    current = segments
    total_s = audio.size / sample_rate
    for start, end, voiced_s in find_holes(activity, segments, check):
        lo, hi = max(0.0, start - check.context_s), min(total_s, end + check.context_s)
        words = [w for s in current for w in s.words]
        # The words stamped over the hole are what the redo replaces: those whose middle lies in it,
        # and a stretched word reaching into it. That word stands for speech before the hole, so the
        # redo starts early enough to hear that speech as well.
        stretched = [w for w in words if w.start < start and w.end > start + check.max_word_s]
        lo = max(0.0, min([lo, *(w.start - check.pad_s for w in stretched)]))
        inside = [w for w in words if lo <= _mid(w) <= hi or w in stretched]
        clip = audio[int(lo * sample_rate):int(math.ceil(hi * sample_rate))]
        heard = [Segment(s.start + lo, s.end + lo, s.text,
                         [Word(w.text, w.start + lo, w.end + lo, w.probability) for w in s.words], s.cut)
                 for s in transcribe(clip)]
        new_words = [w for s in heard for w in s.words]
        before = _share(activity, words, start, end, check)
        after = _share(activity, [w for w in words if w not in inside] + new_words, start, end, check)
        keep = bool(new_words) and after >= before + check.min_gain and not looping(heard)
        redos.append(HoleRedo(round(start, 3), round(end, 3), round(voiced_s, 2), round(before, 3),
                              round(after, 3), keep))
        if keep:
            current = _replace(current, inside, new_words)
    return current, redos


def _replace(segments: list[Segment], old: list[Word], new: list[Word]) -> list[Segment]:
    """Segments without the `old` words (split where they went) plus one segment of the `new` words, in time order."""
    gone = {id(w) for w in old}
    out: list[Segment] = []
    for seg in segments:
        parts: list[list[Word]] = [[]]
        for w in seg.words:
            if id(w) in gone:
                if parts[-1]:
                    parts.append([])
            else:
                parts[-1].append(w)
        parts = [p for p in parts if p]
        if len(parts) == 1 and len(parts[0]) == len(seg.words):
            out.append(seg)
            continue
        for n, part in enumerate(parts):
            last = n == len(parts) - 1 and part[-1] is seg.words[-1]
            out.append(Segment(part[0].start, part[-1].end, " ".join(w.text.strip() for w in part), part,
                               seg.cut and last))
    out.append(Segment(new[0].start, new[-1].end, " ".join(w.text.strip() for w in new), new))
    return sorted(out, key=lambda s: s.start)
