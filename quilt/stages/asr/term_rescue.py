"""A second, wider-beam hearing of sentences that lost every histopathology term to greedy decoding.

Greedy decoding with tiny.en keeps the sound of a term and loses the word ("lymphoid tissue" ->
"malinified tissue"); when that happens to every term in a sentence, the denoiser finds nothing
medical in it and the sentence is never paired. Beam search hears many of those terms right, but
on whole 30 s windows it was measured to do worse overall (sentence ends and timings suffer), so it
is used only here: on one sentence at a time, only for a sentence that is neither medical nor
chatter and that holds a word Whisper doubted or no dictionary knows. The redo replaces the
sentence only when it makes it medical; otherwise the greedy words stay.

Measured on 160 single-term sentences spoken by espeak-ng ("Notice the {term} in the middle of the
field.", terms drawn at random from the term list, not from any eval pool): greedy decoding kept a
term in 76; a beam-5 redo of the other 84 found one in 19 more, and the same redo of the audio
slowed to 0.92 of its speed in 30 more (see `TermRescue.speeds` for why the default does not slow it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quilt.core.types import Segment, Word
from quilt.stages.asr.whisper import Transcriber
from quilt.stages.common.corrector import denoise
from quilt.stages.common.entities import is_chatter
from quilt.stages.common.lexicon import Lexicon
from quilt.stages.common.repetition import looping

_MIN_DOUBTED_LETTERS = 4


@dataclass(frozen=True)
class TermRescue:
    """When a sentence is heard again, and how."""

    beam_size: int = 5  # 0 or 1: no rescue
    # Playback rates of the redos (< 1: slowed down, pitch and all); of those that make the sentence
    # medical, the one Whisper is surest of is kept. On the term sentences below, 0.92 alone heard 30
    # of the 84 lost terms, 0.88 24, 0.96 27 and the recorded speed 19, the two together 32. Yet on
    # the 40 tuning lectures a slowed hearing turned one sentence into a garbled one that still named
    # a term (pair precision 1.000 -> 0.994) and recovered no more segments (recall 0.982 either way),
    # and two redos cost 1.9x the wall time of no rescue against 1.48x for one: one redo, as recorded.
    speeds: tuple[float, ...] = (1.0,)
    min_duration_s: float = 1.0  # shorter: a word or two, not worth a second decode
    max_duration_s: float = 20.0  # longer: a run-on stretch, better left to the window's own retries
    pad_s: float = 0.3  # audio heard on each side, so the first and last words are heard whole
    min_confidence: float = 0.6  # a word below this probability is doubted (the denoiser's own threshold)
    # The redo must say about as much as the greedy transcript did: a prompt echoed into the
    # sentence, or half the sentence dropped, is not a better hearing.
    min_word_ratio: float = 0.6
    max_word_ratio: float = 1.6

    @property
    def enabled(self) -> bool:
        return self.beam_size > 1


@dataclass(frozen=True)
class RescueAttempt:
    """One sentence heard again (for logs and counters)."""

    t_start: float
    t_end: float
    before: str
    after: str  # the last redo heard (the kept one when kept)
    kept: bool
    decodes: int = 1  # redos run for this sentence


def _mid(word: Word) -> float:
    return (word.start + word.end) / 2.0


def _doubted(words: list[Word], lexicon: Lexicon, min_confidence: float) -> bool:
    """A word of four letters or more that Whisper doubted or no dictionary knows.

    Short words are left out: Whisper is unsure of "a", "and" and "in" all the time, and a term it
    garbled comes out longer than that.
    """
    for word in words:
        core = word.text.strip().strip(".,;:!?\"'()[]").lower()
        if len(core) >= _MIN_DOUBTED_LETTERS and not lexicon.is_term_word(core) and (
                word.probability < min_confidence or not lexicon.is_known(core)):
            return True
    return False


def _words_between(segments: list[Segment], lo: float, hi: float) -> list[Word]:
    return [w for s in segments for w in s.words if lo <= _mid(w) <= hi]


def _without(segments: list[Segment], lo: float, hi: float) -> list[Segment]:
    """The segments less the words whose midpoints lie in [lo, hi]; text and times rebuilt where words went.

    A segment that loses words from its middle becomes two, the words before the hole and those
    after it: kept as one, its start would sort it before the redo that fills the hole, and the
    denoiser, reading segment by segment, would put the redo's words after the ones that follow it.
    """
    out: list[Segment] = []
    for seg in segments:
        before = [w for w in seg.words if _mid(w) < lo]
        after = [w for w in seg.words if _mid(w) > hi]
        if len(before) + len(after) == len(seg.words):
            if not before or not after:
                out.append(seg)
                continue
        parts = [part for part in (before, after) if part]
        for n, part in enumerate(parts):  # the seam mark (Segment.cut) stays with the segment's last part
            out.append(Segment(part[0].start, part[-1].end, " ".join(w.text.strip() for w in part), part,
                               seg.cut and n == len(parts) - 1))
    return out


def at_speed(audio: np.ndarray, speed: float) -> np.ndarray:
    """The audio played `speed` times as fast (linear interpolation: 0.92 is 8% slower and lower)."""
    if speed == 1.0 or audio.size < 2:
        return audio
    n = max(2, int(round(audio.size / speed)))
    return np.interp(np.linspace(0.0, audio.size - 1, n), np.arange(audio.size), audio).astype(np.float32)


def _shifted(segments: list[Segment], offset: float, lo: float, hi: float, scale: float = 1.0) -> list[Segment]:
    """Words moved into the caller's time base (t * scale + offset), keeping those whose midpoints lie in [lo, hi]."""
    out: list[Segment] = []
    for seg in segments:
        words = [Word(w.text, w.start * scale + offset, w.end * scale + offset, w.probability) for w in seg.words]
        words = [w for w in words if lo <= _mid(w) <= hi]
        if words:
            out.append(Segment(words[0].start, words[-1].end, " ".join(w.text.strip() for w in words), words,
                               seg.cut))
    return out


def rescue_terms(transcriber: Transcriber, audio: np.ndarray, sample_rate: int, segments: list[Segment],
                 initial_prompt: str | None, lexicon: Lexicon,
                 config: TermRescue = TermRescue()) -> tuple[list[Segment], list[RescueAttempt]]:
    """The segments with each non-medical, doubted sentence replaced by a beam-search redo that finds a term.

    `audio` is the stretch the segments were heard from (times relative to it); segments without
    word timings are left alone, since their sentences cannot be cut out of them.
    """
    if not config.enabled or not segments or any(not s.words for s in segments):
        return segments, []
    total_s = audio.size / sample_rate
    attempts: list[RescueAttempt] = []
    current = segments
    for sentence in denoise(segments, lexicon, config.min_confidence):
        duration = sentence.end - sentence.start
        if sentence.medical or is_chatter(sentence.text) or not (
                config.min_duration_s <= duration <= config.max_duration_s):
            continue
        words = _words_between(current, sentence.start, sentence.end)
        if not words or not _doubted(words, lexicon, config.min_confidence):
            continue
        lo, hi = max(0.0, sentence.start - config.pad_s), min(total_s, sentence.end + config.pad_s)
        clip = audio[int(lo * sample_rate):int(math.ceil(hi * sample_rate))]
        # Only what lies inside the sentence (give or take Whisper's timing slack) may replace it.
        before_words = _words_between(current, -math.inf, sentence.start - 1e-6)
        after_words = _words_between(current, sentence.end + 1e-6, math.inf)
        inner_lo = max(lo, _mid(before_words[-1]) if before_words else lo)
        inner_hi = min(hi, _mid(after_words[0]) if after_words else hi)
        best: tuple[float, list[Segment]] | None = None  # (mean word probability, segments) of the best hearing
        last: list[Segment] = []
        for speed in config.speeds:
            heard = transcriber.transcribe(at_speed(clip, speed), sample_rate, initial_prompt=initial_prompt,
                                           beam_size=config.beam_size)
            last = _shifted(heard, lo, inner_lo, inner_hi, scale=speed)
            redo_words = [w for s in last for w in s.words]
            ratio = len(redo_words) / len(words)
            medical = any(s.medical for s in denoise(last, lexicon, config.min_confidence)) if last else False
            if medical and config.min_word_ratio <= ratio <= config.max_word_ratio and not looping(last):
                # Of two hearings that both find a term, the one Whisper is surer of: a garbled
                # sentence with one term in it is still mostly wrong words.
                confidence = sum(w.probability for w in redo_words) / len(redo_words)
                if best is None or confidence > best[0]:
                    best = (confidence, last)
        chosen = best[1] if best is not None else last
        attempts.append(RescueAttempt(round(sentence.start, 3), round(sentence.end, 3), sentence.asr_text,
                                      " ".join(w.text.strip() for s in chosen for w in s.words), best is not None,
                                      len(config.speeds)))
        if best is not None:
            current = sorted(_without(current, sentence.start, sentence.end) + best[1], key=lambda s: s.start)
    return current, attempts
