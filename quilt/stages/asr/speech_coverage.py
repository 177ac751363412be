"""Where an audio window has speech, and how much of it a transcript accounts for.

Whisper can return a transcript that silently skips most of a window (tiny.en with the domain
prompt kept one sentence of a 30 s window and stamped it 20 s late). The transcript alone cannot
show that, but the audio can: a cheap energy-based voice-activity measure gives the voiced
seconds, and the transcribed words should lie over them.

Voice activity is frame energy (20 ms RMS, in dB) against a threshold that adapts to the
recording: a running noise floor (a low percentile of the surrounding seconds, so a hum or a
room tone that changes level is followed) plus a margin, and never lower than a fixed distance
below the window's speech level or an absolute floor, so digital silence (exact zeros, as in
generated lectures) and faint dither do not count as speech. Short gaps inside words and between
words are bridged and isolated clicks dropped, so the spans look like phrases.

Everything is on a frame grid (numpy masks), which keeps interval arithmetic trivial and costs a
few milliseconds per 30 s window, nothing next to transcribing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from quilt.core.types import Segment

FRAME_S = 0.02
_SILENT_DB = -100.0  # what an all-zero frame reads as (keeps log10 finite)


@dataclass(frozen=True)
class VadParams:
    # Voiced: this far above the local noise floor. Stationary noise in 20 ms frames varies by
    # about 1 dB, speech sits 15-40 dB above the room, so 10 dB separates them with room to spare.
    margin_db: float = 10.0
    # Noise floor: this percentile of the frame levels within floor_window_s around each frame.
    # Even fluent speech has stop closures and pauses between words in more than a tenth of its
    # frames. The window is short so a noise level that jumps (a scene with a fan or music) is
    # followed within about a second; 5 s counted 2.5 s of such noise as speech.
    floor_percentile: float = 10.0
    floor_window_s: float = 3.0
    # Never voiced: more than this below the window's speech level (its 95th-percentile frame),
    # or below the absolute floor. Without these, digital silence would give a floor of -100 dB
    # and any faint dither or breath would count as speech.
    range_db: float = 40.0
    abs_floor_db: float = -60.0
    # Gaps shorter than this inside a phrase are bridged (stop closures, espeak's word gaps);
    # pauses between sentences are longer and stay unvoiced.
    bridge_s: float = 0.3
    # Voiced runs shorter than this after bridging are clicks or pops, not a syllable.
    min_span_s: float = 0.1


@dataclass(frozen=True)
class SpeechActivity:
    """Voiced frames of one window (FRAME_S each, from the window's start) and their spans in seconds."""

    voiced: np.ndarray  # bool per frame
    frame_s: float = FRAME_S

    @property
    def duration_s(self) -> float:
        return self.voiced.size * self.frame_s

    @property
    def voiced_s(self) -> float:
        return float(self.voiced.sum()) * self.frame_s

    @property
    def spans(self) -> list[tuple[float, float]]:
        return [(a * self.frame_s, b * self.frame_s) for a, b in _runs(self.voiced)]


@dataclass(frozen=True)
class Coverage:
    """How well one transcript of a window accounts for the window's speech."""

    voiced_s: float  # seconds of speech in the window
    covered_s: float  # of those, seconds within reach (pad_s) of a transcribed word
    word_s: float  # seconds spanned by the transcribed words
    on_silence_s: float  # of those, seconds farther than pad_s from any speech

    @property
    def speech_covered(self) -> float:
        """Fraction of the speech the words account for (1.0 when there is no speech to cover)."""
        return self.covered_s / self.voiced_s if self.voiced_s > 0 else 1.0

    @property
    def words_on_silence(self) -> float:
        """Fraction of the words' time placed where nobody speaks (0.0 when there are no words)."""
        return self.on_silence_s / self.word_s if self.word_s > 0 else 0.0

    @property
    def score(self) -> float:
        """Higher is better: speech left untranscribed and words put in silence both count against it."""
        return self.speech_covered - self.words_on_silence


def frame_levels(samples: np.ndarray, sample_rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    """RMS level of each frame in dB re full scale (1.0); a trailing partial frame is zero-padded."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    n = max(1, int(round(frame_s * sample_rate)))
    count = -(-x.size // n)
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    padded = np.zeros(count * n, dtype=np.float64)
    padded[: x.size] = x
    power = np.mean(padded.reshape(count, n) ** 2, axis=1)
    return np.maximum(10.0 * np.log10(power + 1e-12), _SILENT_DB)


def _running_percentile(levels: np.ndarray, width: int, q: float) -> np.ndarray:
    width = max(1, min(width, levels.size))
    left = width // 2
    padded = np.pad(levels, (left, width - 1 - left), mode="edge")
    return np.percentile(np.lib.stride_tricks.sliding_window_view(padded, width), q, axis=1)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame indices of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _bridge(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of False no longer than max_gap that have True on both sides."""
    out = mask.copy()
    for start, end in _runs(~mask):
        if 0 < start and end < mask.size and end - start <= max_gap:
            out[start:end] = True
    return out


def _drop_short(mask: np.ndarray, min_len: int) -> np.ndarray:
    out = mask.copy()
    for start, end in _runs(mask):
        if end - start < min_len:
            out[start:end] = False
    return out


def speech_activity(samples: np.ndarray, sample_rate: int, params: VadParams = VadParams(),
                    frame_s: float = FRAME_S) -> SpeechActivity:
    levels = frame_levels(samples, sample_rate, frame_s)
    if levels.size == 0:
        return SpeechActivity(np.zeros(0, dtype=bool), frame_s)
    floor = _running_percentile(levels, int(round(params.floor_window_s / frame_s)), params.floor_percentile)
    speech_level = float(np.percentile(levels, 95))
    threshold = np.maximum(floor + params.margin_db,
                           max(speech_level - params.range_db, params.abs_floor_db))
    voiced = levels > threshold
    voiced = _bridge(voiced, int(round(params.bridge_s / frame_s)))
    voiced = _drop_short(voiced, int(round(params.min_span_s / frame_s)))
    return SpeechActivity(voiced, frame_s)


def _word_spans(segments: Iterable[Segment]) -> list[tuple[float, float]]:
    """Each word's (start, end); a segment without word timings (word_timestamps off) counts as one word."""
    spans: list[tuple[float, float]] = []
    for seg in segments:
        if seg.words:
            spans.extend((w.start, w.end) for w in seg.words)
        else:
            spans.append((seg.start, seg.end))
    return spans


def span_mask(spans: Iterable[tuple[float, float]], size: int, frame_s: float, pad_s: float = 0.0) -> np.ndarray:
    """Frames overlapping any span widened by pad_s on both sides."""
    mask = np.zeros(size, dtype=bool)
    for start, end in spans:
        lo = max(0, int(np.floor((start - pad_s) / frame_s)))
        hi = min(size, int(np.ceil((end + pad_s) / frame_s)))
        if hi > lo:
            mask[lo:hi] = True
    return mask


def coverage(activity: SpeechActivity, segments: Iterable[Segment], pad_s: float = 0.3) -> Coverage:
    """Compare a transcript (times relative to the window's start) with the window's speech.

    `pad_s` is the slack allowed between a word's timestamps and the speech it stands for:
    Whisper's word times come from attention alignment and are often a few hundred ms off, and a
    bridged span includes the short gaps next to words.
    """
    frame_s, size = activity.frame_s, activity.voiced.size
    words = _word_spans(segments)
    near_word = span_mask(words, size, frame_s, pad_s)
    on_word = span_mask(words, size, frame_s)
    near_speech = span_mask(activity.spans, size, frame_s, pad_s)
    # Words stamped past the audio's end (a hallucinated tail) count as time on silence too.
    beyond = sum(max(0.0, end - max(start, activity.duration_s)) for start, end in words)
    return Coverage(voiced_s=activity.voiced_s,
                    covered_s=float((activity.voiced & near_word).sum()) * frame_s,
                    word_s=float(on_word.sum()) * frame_s + beyond,
                    on_silence_s=float((on_word & ~near_speech).sum()) * frame_s + beyond)
