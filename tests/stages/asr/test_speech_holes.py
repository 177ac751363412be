"""Speech a window's transcript skipped behind one stretched word, found and heard again (pure, fake ASR)."""

from __future__ import annotations

import numpy as np
import pytest

from quilt.core.types import Segment, Word
from quilt.stages.asr.speech_coverage import speech_activity
from quilt.stages.asr.speech_holes import HoleCheck, fill_holes, find_holes
from quilt.stages.asr.windows import CoverageCheck, WindowRetry, transcribe_windows

RATE = 1000  # enough for 20 ms energy frames, and small enough to find a clip in the lecture by its samples
# Four phrases of speech, as (start, end, words); silence between them.
PHRASES = [(0.5, 3.0, "the liver shows steatosis"), (4.0, 7.5, "these are granulomas with giant cells"),
           (8.2, 11.5, "caseating necrosis in the centre"), (12.5, 14.5, "that is all")]
LENGTH_S = 16.0


def lecture() -> np.ndarray:
    rng = np.random.default_rng(7)
    audio = np.zeros(int(LENGTH_S * RATE), dtype=np.float32)
    for start, end, _ in PHRASES:
        audio[int(start * RATE):int(end * RATE)] = rng.uniform(-0.5, 0.5, int((end - start) * RATE))
    return audio


def said(start: float, end: float, text: str) -> list[Word]:
    parts = text.split()
    if not parts:
        return []
    step = (end - start) / len(parts)
    return [Word(p, start + i * step, start + (i + 1) * step - 0.05, 0.9) for i, p in enumerate(parts)]


ALL_WORDS = [w for start, end, text in PHRASES for w in said(start, end, text)]


def skipped() -> list[Segment]:
    """What tiny.en gave: the first phrase, then one word stamped over the next two phrases, then the last."""
    first = said(*PHRASES[0])
    stretched = Word("these", 4.0, 11.4, 0.4)
    last = said(*PHRASES[3])
    return [Segment(0.5, 11.4, "", [*first, stretched]), Segment(12.5, 14.5, "that is all", last)]


class Hears:
    """A fake redo: finds the clip in the lecture and answers with the true words inside it (or `answer`)."""

    def __init__(self, audio: np.ndarray, answer: str | None = None) -> None:
        self.audio, self.answer = audio, answer
        self.clips: list[tuple[float, float]] = []

    def __call__(self, clip: np.ndarray) -> list[Segment]:
        starts = [i for i in range(self.audio.size - clip.size + 1)
                  if np.array_equal(self.audio[i:i + 16], clip[:16])
                  and np.array_equal(self.audio[i:i + clip.size], clip)]
        assert starts, "the redo must hear a stretch of the window"
        lo = starts[0] / RATE
        hi = lo + clip.size / RATE
        self.clips.append((lo, hi))
        if self.answer is not None:
            words = said(0.2, hi - lo - 0.2, self.answer)
        else:
            words = [Word(w.text, w.start - lo, w.end - lo, w.probability) for w in ALL_WORDS
                     if lo <= w.start and w.end <= hi]
        return [Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), words)] if words else []


def test_a_word_stretched_over_speech_leaves_a_hole_a_transcript_that_hears_it_does_not() -> None:
    activity = speech_activity(lecture(), RATE)
    [(start, end, voiced)] = find_holes(activity, skipped())
    # The stretched word accounts for its first 1.2 s (plus slack); the rest of both phrases is the hole
    # (where the energy measure hears speech: it trims some of a long steady noise burst).
    assert 4.0 + 1.2 + 0.3 - 0.05 <= start < 7.5 and end == pytest.approx(11.5, abs=0.05)
    assert 3.0 <= voiced <= (7.5 - 5.5) + (11.5 - 8.2) + 0.05
    whole = [Segment(0.5, 14.5, "", ALL_WORDS)]
    assert find_holes(activity, whole) == []
    assert find_holes(activity, skipped(), HoleCheck(min_hole_s=6.0)) == []  # too little to redo
    assert find_holes(activity, [Segment(0.5, 14.5, "no word times")]) == []


def test_the_redo_replaces_the_stretched_word_in_time_order() -> None:
    audio = lecture()
    hears = Hears(audio)
    out, [redo] = fill_holes(hears, audio, RATE, speech_activity(audio, RATE), skipped())
    assert redo.kept and redo.covered_before < 0.1 and redo.covered_after > 0.9
    # Only the hole, with a second of context after it, heard from where the stretched word began.
    assert len(hears.clips) == 1
    assert hears.clips[0] == pytest.approx((4.0 - 0.3, redo.end + 1.0), abs=0.01)
    text = " ".join(w.text for s in out for w in s.words)
    assert text == " ".join(text for _, _, text in PHRASES)
    starts = [w.start for s in out for w in s.words]
    assert starts == sorted(starts)


def test_a_redo_that_hears_no_more_is_not_kept() -> None:
    audio = lecture()
    for answer in ("", "the the the the the the the the the the the the the the the the the the"):
        out, [redo] = fill_holes(Hears(audio, answer), audio, RATE, speech_activity(audio, RATE), skipped())
        assert not redo.kept and out == skipped()
    out, redos = fill_holes(Hears(audio), audio, RATE, speech_activity(audio, RATE), skipped(),
                            HoleCheck(enabled=False))
    assert redos == [] and out == skipped()


class WindowAsr:
    """A transcriber for transcribe_windows: the whole window skips like tiny.en did, a shorter clip is heard."""

    name = "fake"

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio
        self.hears = Hears(audio)

    def transcribe(self, audio: np.ndarray, sample_rate: int = RATE, initial_prompt: str | None = None,
                   beam_size: int | None = None) -> list[Segment]:
        if audio.size == self.audio.size:
            return skipped()
        return self.hears(audio)


def test_transcribe_windows_fills_the_hole_and_reports_it_in_video_time() -> None:
    audio = lecture()
    retries: list[WindowRetry] = []
    batches = transcribe_windows(WindowAsr(audio), [(60.0, audio)], RATE, check=CoverageCheck(enabled=False),
                                 on_retry=retries.append)
    words = [w for b in batches for s in b for w in s.words]
    assert " ".join(w.text for w in words) == " ".join(text for _, _, text in PHRASES)
    assert words[0].start == pytest.approx(60.5)
    [retry] = retries
    [(start, _, _)] = find_holes(speech_activity(audio, RATE), skipped())
    assert retry.how == "hole" and retry.kept_retry and retry.t_start == pytest.approx(60.0 + start, abs=0.05)


def test_quilt_process_counts_filled_holes_apart_from_window_retries() -> None:
    from rich.console import Console

    from quilt.cli.process_cmds import outcome_table
    from quilt.pipeline import VideoOutcome

    outcome = VideoOutcome(source="a.mp4", video_id="v-1", cut=2)
    for how, kept in (("unprompted", True), ("lead-in", False), ("hole", True), ("hole", False)):
        outcome.count_retry(WindowRetry(t_start=0.0, voiced_s=3.0, covered_before=0.1, covered_after=0.9,
                                        kept_retry=kept, how=how))
    assert (outcome.asr_retries, outcome.asr_holes) == (2, 1)
    console = Console(width=220, record=True)
    console.print(outcome_table([outcome]))
    lines = console.export_text().splitlines()
    header = next(line for line in lines if "┃" in line)
    row = next(line for line in lines if "│" in line)
    cells = dict(zip([c.strip() for c in header.split("┃")], [c.strip() for c in row.split("│")], strict=True))
    assert (cells["asr retries"], cells["asr holes"], cells["cut"]) == ("2", "1", "2")
