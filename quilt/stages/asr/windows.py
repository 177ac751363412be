"""Transcribing audio that arrives as consecutive windows, so no stage holds a whole lecture's audio.

Window k is transcribed together with the first `overlap_s` seconds of window k+1, so a word
spoken across the boundary is heard whole at least once. The seam between k and k+1 is put in
the middle of that overlap: window k keeps the words whose midpoint lies before it, window k+1
those whose midpoint lies after. A word cut at the end of window k's extended audio lies past
the seam (window k+1 heard it whole) and a word cut at the start of window k+1 lies before it
(window k heard it whole), so each word appears once and uncut.

Each window's transcript is checked against the window's own speech (quilt/stages/asr/speech_coverage.py).
Whisper tiny.en sometimes skips most of a window and stamps what it kept seconds late. Two causes
were seen: the domain prompt (the same audio without it comes out whole), and a window that starts
in the middle of a sentence (a short last window most of all: the same audio heard from two seconds
earlier comes out whole). When the words account for too little of the voiced time, or sit largely
in silence, or when it repeats a phrase in a loop (quilt/stages/common/repetition.py), the window is
transcribed again both ways, without the prompt and with a lead-in from
the window before, and whichever transcript covers the speech best is kept. Neither is the default:
the prompt helps medical terms, and a lead-in on every window was measured to spell the sentence
after it worse. A window that passes the check costs only the energy measure (milliseconds).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from quilt.core.types import Segment, Word
from quilt.stages.asr.speech_coverage import Coverage, coverage, speech_activity
from quilt.stages.asr.speech_holes import HoleCheck, fill_holes
from quilt.stages.asr.term_rescue import RescueAttempt, TermRescue, rescue_terms
from quilt.stages.asr.whisper import SAMPLE_RATE, Transcriber, prepare_audio
from quilt.stages.common.lexicon import Lexicon, load_lexicon
from quilt.stages.common.repetition import looping

_LEAD_S = 2  # seconds of the previous window a lead-in retry hears first
DEFAULT_HOLES = HoleCheck()


def shift_segments(segments: list[Segment], offset_s: float) -> list[Segment]:
    return [
        Segment(start=s.start + offset_s, end=s.end + offset_s, text=s.text,
                words=[Word(w.text, w.start + offset_s, w.end + offset_s, w.probability) for w in s.words], cut=s.cut)
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
            cut = kept[-1] is not seg.words[-1] or seg.cut  # lost its end here (or at an earlier seam)
            out.append(Segment(kept[0].start, kept[-1].end, " ".join(w.text for w in kept), kept, cut))
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


@dataclass(frozen=True)
class CoverageCheck:
    """When a window's transcript is redone without the prompt, and when the redo is kept.

    Measured with tiny.en and the domain prompt. On the eight generated eval lectures (16 windows)
    good windows had speech_covered >= 0.97 and words_on_silence <= 0.16; the two windows Whisper
    skipped had 0.42 and 0.34 covered (unprompted: 0.99 and 1.00). On the bench narration (52
    sentences x 4 voices, one window each) 205 of 208 had speech_covered >= 0.95, words_on_silence
    at most 0.33, and the three below were all transcripts cut short ("A large, high-"). The
    limits sit well clear of good windows, leaving room for speech-like noise that the energy
    measure counts as voiced (music, laughter), while a window missing half its speech is caught.
    """

    min_covered: float = 0.8  # retry when the words account for less of the speech than this
    max_on_silence: float = 0.5  # or when more than this share of the words' time is in silence
    min_voiced_s: float = 1.0  # a cough or a click is not worth a second transcription
    # The retry must beat the prompted transcript by this much in Coverage.score: on a tie the
    # prompted one is kept, as it spells medical terms better.
    min_gain: float = 0.1
    enabled: bool = True

    def poor(self, cov: Coverage) -> bool:
        return self.enabled and cov.voiced_s >= self.min_voiced_s and (
            cov.speech_covered < self.min_covered or cov.words_on_silence > self.max_on_silence)


@dataclass(frozen=True)
class WindowRetry:
    """A window that was transcribed again, without the prompt or with a lead-in (for logs and counters)."""

    t_start: float  # the window's start in video time
    voiced_s: float
    covered_before: float  # Coverage.speech_covered of the first transcript
    covered_after: float  # ... of the best retry
    kept_retry: bool  # whether that retry replaced the first transcript
    how: str = "unprompted"  # which retry was best: "unprompted" | "lead-in" | "hole" (speech_holes.py)


def transcribe_checked(transcriber: Transcriber, audio: np.ndarray, sample_rate: int,
                       initial_prompt: str | None, check: CoverageCheck = CoverageCheck(),
                       t_start: float = 0.0,
                       lead: np.ndarray | None = None) -> tuple[list[Segment], WindowRetry | None]:
    """Transcribe one stretch of audio; redo it when the words miss its speech.

    The retries: without the prompt (unless it is already off), and, given `lead` (the audio just
    before, at `sample_rate`), with the prompt and that lead-in, whose words are then dropped.
    Times stay relative to `audio`.
    """
    first = transcriber.transcribe(audio, sample_rate, initial_prompt=initial_prompt)
    if not check.enabled:
        return first, None
    # As the transcriber hears it (mono float at 16 kHz), so levels are in full-scale dB whatever came in.
    activity = speech_activity(prepare_audio(audio, sample_rate), SAMPLE_RATE)
    before = coverage(activity, first)
    first_loops = looping(first)
    if not check.poor(before) and not first_loops:
        return first, None
    tries: list[tuple[str, list[Segment]]] = []
    if lead is not None and lead.size:  # first: on a tie it keeps the prompt's spelling
        lead_s = lead.size / sample_rate
        heard = transcriber.transcribe(np.concatenate([lead, audio]), sample_rate, initial_prompt=initial_prompt)
        tries.append(("lead-in", clip_segments(shift_segments(heard, -lead_s), 0.0, math.inf)))
    if initial_prompt != "":
        tries.append(("unprompted", transcriber.transcribe(audio, sample_rate, initial_prompt="")))
    if not tries:
        return first, None
    scored = [(how, found, coverage(activity, found), looping(found)) for how, found in tries]
    # A retry that does not loop beats one that does; then the better coverage. max keeps the first of equals.
    how, best, after, best_loops = max(scored, key=lambda t: (not t[3], t[2].score))
    keep = (first_loops and not best_loops) or after.score >= before.score + check.min_gain
    retry = WindowRetry(t_start=t_start, voiced_s=round(before.voiced_s, 2),
                        covered_before=round(before.speech_covered, 3), covered_after=round(after.speech_covered, 3),
                        kept_retry=keep, how=how)
    return (best if keep else first), retry


@dataclass
class SpeechTally:
    """Seconds of voiced audio over all windows so far (for the language check: speech with no words)."""
    voiced_s: float = 0.0


def _hear(transcriber: Transcriber, sample_rate: int, prompt: str | None, clip: np.ndarray) -> list[Segment]:
    return transcriber.transcribe(clip, sample_rate, initial_prompt=prompt)


def transcribe_windows(transcriber: Transcriber, windows: Iterable[tuple[float, np.ndarray]],
                       sample_rate: int = 16000, overlap_s: float = 2.0,
                       initial_prompt: str | None = None, check: CoverageCheck = CoverageCheck(),
                       on_retry: Callable[[WindowRetry], None] | None = None,
                       tally: SpeechTally | None = None, rescue: TermRescue | None = None,
                       lexicon: Lexicon | None = None,
                       on_rescue: Callable[[RescueAttempt], None] | None = None,
                       holes: HoleCheck = DEFAULT_HOLES,
                       prompt_at: Callable[[float, float], str | None] | None = None) -> Iterator[list[Segment]]:
    """Yield each window's final segments, in video time, as soon as that window is transcribed.

    `windows` are consecutive and non-overlapping (t_start, samples at `sample_rate`). The last
    window is transcribed without extension. `initial_prompt` follows the Transcriber convention
    (None: the transcriber's default prompt, "": none). Each window is checked against its speech
    and, if poor, redone without the prompt and with a lead-in (see transcribe_checked); then each stretch
    of speech it still skips is heard again on its own (`holes`, quilt/stages/asr/speech_holes.py).
    `on_retry` hears of every redo before that window is yielded, a hole as how="hole" with its
    start in video time. With `rescue`, a sentence that lost every term is heard again with a
    wider beam (quilt/stages/asr/term_rescue.py); `on_rescue` hears of each attempt. `prompt_at(start,
    end)`, given, replaces `initial_prompt` for the window spanning those seconds (screen_prompt.py).
    """
    overlap_n = max(0, int(round(overlap_s * sample_rate)))
    left_seam = -math.inf
    lead: np.ndarray | None = None  # the previous window's last seconds, for a retry that starts earlier
    for (t_start, samples), nxt in _lookahead(windows):
        right_seam = math.inf
        audio = samples
        if nxt is not None:
            ext = nxt[1][:overlap_n]
            # Half of the overlap actually available (the next window may be shorter than overlap_s),
            # so the seam never lies beyond what this window heard.
            right_seam = nxt[0] + ext.size / sample_rate / 2.0
            audio = np.concatenate([samples, ext]) if ext.size else samples
        if tally is not None and samples.size:
            tally.voiced_s += speech_activity(prepare_audio(samples, sample_rate), SAMPLE_RATE).voiced_s
        if audio.size:
            window_prompt = (initial_prompt if prompt_at is None
                             else prompt_at(t_start, t_start + audio.size / sample_rate))
            # Checked on the extended audio, the stretch this transcript claims to cover.
            found, retry = transcribe_checked(transcriber, audio, sample_rate, window_prompt, check, t_start, lead)
            if retry is not None and on_retry is not None:
                on_retry(retry)
            if holes.enabled:
                activity = speech_activity(prepare_audio(audio, sample_rate), SAMPLE_RATE)
                found, redos = fill_holes(functools.partial(_hear, transcriber, sample_rate, window_prompt),
                                          audio, sample_rate, activity, found, holes)
                for redo in redos:
                    if on_retry is not None:
                        on_retry(WindowRetry(t_start=round(t_start + redo.start, 3), voiced_s=redo.voiced_s,
                                             covered_before=redo.covered_before,
                                             covered_after=redo.covered_after, kept_retry=redo.kept, how="hole"))
            if rescue is not None and rescue.enabled:
                found, attempts = rescue_terms(transcriber, audio, sample_rate, found, window_prompt,
                                               lexicon or load_lexicon(), rescue)
                if on_rescue is not None:
                    for attempt in attempts:  # reported in video time, like the window retries
                        on_rescue(dataclasses.replace(attempt, t_start=round(attempt.t_start + t_start, 3),
                                                      t_end=round(attempt.t_end + t_start, 3)))
            yield clip_segments(shift_segments(found, t_start), left_seam, right_seam)
        left_seam = right_seam
        lead = samples[-_LEAD_S * sample_rate:] if samples.size else lead
