"""Overlapping ASR windows: seam merging and the coverage retry, on synthetic segments and with real Whisper."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from quilt.core.types import Segment, Word
from quilt.stages.asr.speech_coverage import coverage, speech_activity
from quilt.stages.asr.speech_holes import HoleCheck
from quilt.stages.asr.whisper import FasterWhisperTranscriber, prepare_audio
from quilt.stages.asr.windows import (
    CoverageCheck,
    WindowRetry,
    clip_segments,
    merge_at_seam,
    shift_segments,
    transcribe_checked,
    transcribe_windows,
)
from quilt.testing.speech import speak
from tests.stages.asr.test_asr_local import espeak_audio

LONG_TEXT = ("The hematoxylin and eosin stain shows hepatocytes around the bile duct. "
             "Portal triads contain a bile duct, a portal vein and a hepatic artery.")


def seg(*words: tuple[str, float, float]) -> Segment:
    ws = [Word(t, s, e, 0.9) for t, s, e in words]
    return Segment(ws[0].start, ws[-1].end, " ".join(w.text for w in ws), ws)


def test_merge_keeps_each_word_once() -> None:
    # Both sides heard "hepatocytes" (midpoint 5.05) and "bile"; the seam at 5.5 gives each to one side.
    left = [seg(("stain", 3.0, 3.5), ("shows", 3.6, 4.1), ("hepatocytes", 4.6, 5.5), ("bile", 5.6, 5.9))]
    right = [seg(("hepatocytes", 4.62, 5.48), ("bile", 5.62, 5.88), ("duct.", 5.9, 6.3))]
    lo, hi = merge_at_seam(left, right, 5.5)
    assert [w.text for s in lo for w in s.words] == ["stain", "shows", "hepatocytes"]
    assert [w.text for s in hi for w in s.words] == ["bile", "duct."]
    assert lo[0].text == "stain shows hepatocytes" and (lo[0].start, lo[0].end) == (3.0, 5.5)
    assert hi[0].text == "bile duct." and (hi[0].start, hi[0].end) == (5.62, 6.3)


def test_merge_keeps_untouched_text_and_drops_empty_segments() -> None:
    untouched = Segment(0.0, 1.0, "H&E, at low power.", [Word("H&E,", 0.0, 0.4, 1.0), Word("at", 0.5, 0.6, 1.0),
                                                         Word("low", 0.6, 0.8, 1.0), Word("power.", 0.8, 1.0, 1.0)])
    late = seg(("necrosis", 7.0, 7.6))
    lo, hi = merge_at_seam([untouched, late], [late], 6.0)
    assert lo == [untouched]  # Whisper's own text kept when no word was cut away
    assert hi == [late]
    assert merge_at_seam([], [], 1.0) == ([], [])


def test_segments_without_words_split_by_midpoint() -> None:
    a, b = Segment(0.0, 2.0, "first", []), Segment(1.5, 3.5, "second", [])
    assert clip_segments([a, b], 0.0, 2.0) == [a]
    assert merge_at_seam([a, b], [a, b], 2.0) == ([a], [b])


class FakeTranscriber:
    """Reports one word per second of audio it is given, to check the windowing arithmetic."""

    name = "fake"

    def __init__(self) -> None:
        self.lengths: list[float] = []
        self.prompts: list[str | None] = []

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000,
                   initial_prompt: str | None = None) -> list[Segment]:
        self.lengths.append(audio.size / sample_rate)
        self.prompts.append(initial_prompt)
        # The fake audio holds its own time in seconds, so word i is what was "said" there.
        times = audio[:: sample_rate]
        return [seg(*((f"w{int(t)}", float(i) + 0.1, float(i) + 0.9) for i, t in enumerate(times)))]


def _windows(total_s: int, win_s: int, rate: int = 100) -> Iterator[tuple[float, np.ndarray]]:
    clock = np.arange(total_s * rate, dtype=np.float32) / rate
    for start in range(0, total_s, win_s):
        yield float(start), clock[start * rate:(start + win_s) * rate]


def test_windows_cover_every_word_once_and_stream() -> None:
    fake = FakeTranscriber()
    out = transcribe_windows(fake, _windows(10, 4), sample_rate=100, overlap_s=2.0, initial_prompt="")
    first = next(out)  # yielded before later windows are transcribed
    assert fake.lengths == [6.0]
    batches = [first, *out]
    words = [w.text for b in batches for s in b for w in s.words]
    assert words == [f"w{i}" for i in range(10)]
    assert fake.lengths == [6.0, 6.0, 2.0]  # extended by the overlap, the last window as is
    assert fake.prompts == ["", "", ""]
    starts = [w.start for b in batches for s in b for w in s.words]
    assert starts == pytest.approx([i + 0.1 for i in range(10)])


def test_short_last_window_and_zero_overlap() -> None:
    fake = FakeTranscriber()
    # The "audio" here is a clock, not sound, so the speech-coverage check has nothing to measure.
    off = CoverageCheck(enabled=False)
    words = [w.text for b in transcribe_windows(fake, _windows(9, 4), sample_rate=100, overlap_s=2.0, check=off)
             for s in b for w in s.words]
    assert words == [f"w{i}" for i in range(9)]
    assert fake.lengths == [6.0, 5.0, 1.0]
    flat = [w.text for b in transcribe_windows(FakeTranscriber(), _windows(9, 4), sample_rate=100, overlap_s=0)
            for s in b for w in s.words]
    assert flat == [f"w{i}" for i in range(9)]
    assert list(transcribe_windows(fake, iter([]))) == []


def _norm(text: str) -> str:
    return text.lower().strip(".,!?'\"-")


def test_real_whisper_word_across_boundary(tmp_path: Path) -> None:
    raw, rate = espeak_audio(LONG_TEXT, tmp_path)
    audio = prepare_audio(raw, rate)
    assert 9.0 < audio.size / 16000 < 13.0
    transcriber = FasterWhisperTranscriber(beam_size=1, cpu_threads=2)
    single = [w for s in transcriber.transcribe(audio) for w in s.words]
    win = 4 * 16000
    windows = ((i / 16000, audio[i:i + win]) for i in range(0, audio.size, win))
    merged = [w for b in transcribe_windows(transcriber, windows) for s in b for w in s.words]

    boundaries = (4.0, 8.0)
    straddling = [w for w in single if any(w.start < b < w.end for b in boundaries) and len(_norm(w.text)) >= 4]
    assert straddling, [(w.text, w.start, w.end) for w in single]  # the setup really cuts a word
    distinctive = {"hematoxylin", "shows", "contain", "portal", "artery"} | {_norm(w.text) for w in straddling}
    got, want = Counter(_norm(w.text) for w in merged), Counter(_norm(w.text) for w in single)
    for word in distinctive:
        assert got[word] == want[word], (word, [w.text for w in merged], [w.text for w in single])
    for word in straddling:  # heard whole: the merged copy spans the boundary too
        twin = [w for w in merged if _norm(w.text) == _norm(word.text) and abs(w.start - word.start) < 0.3]
        assert len(twin) == 1 and twin[0].end == pytest.approx(word.end, abs=0.3)
    starts = [w.start for w in merged]
    assert starts == sorted(starts)


# --- Coverage check: a window whose transcript misses its speech is redone without the prompt. ---

SENTENCES = ("Hello everyone and welcome to another video.",
             "The bile duct is lined by cuboidal epithelium.",
             "Necrosis is seen in the centre of the granuloma.",
             "That is all for today, take care.")
WIN_S, RATE = 13, 16000
LEAD_S = 2  # seconds of the window before that a lead-in retry hears (asr_windows._LEAD_S)
Narration = tuple[np.ndarray, list[tuple[str, float, float]]]


@pytest.fixture(scope="module")
def narration() -> Narration:
    """Four generated sentences with 1 s pauses, about 17.5 s; and each sentence's audible (start, end)."""
    parts: list[np.ndarray] = []
    truth = []
    for text in SENTENCES:
        parts.append(np.zeros(RATE, np.float32))
        clip = speak(text)
        loud = np.flatnonzero(np.abs(clip) > 1e-3)
        at = sum(p.size for p in parts) / RATE
        truth.append((text, at + loud[0] / RATE, at + (loud[-1] + 1) / RATE))
        parts.append(clip)
    parts.append(np.zeros(RATE, np.float32))
    audio = np.concatenate(parts)
    assert truth[2][2] < WIN_S < truth[3][1]  # three sentences in the first window, one in the second
    return audio, truth


def _spread(text: str, start: float, end: float) -> list[Word]:
    words = text.split()
    step = (end - start) / len(words)
    return [Word(w, start + i * step, start + (i + 1) * step - 0.05, 0.9) for i, w in enumerate(words)]


class SkipsWhenPrompted:
    """A deterministic stand-in for a failure measured with tiny.en: on build/eval/tuning/tuning-01.mp4,
    with the domain prompt, only "Hello everyone and welcome to another video." survived the first 30 s
    window, stamped at 19.9 s instead of 0 s; with initial_prompt="" every sentence came out at its time.

    This fake answers from the known narration: unprompted (or for windows not in `skip`), every
    word the audio holds whole, at its time; prompted, for a window in `skip`, only the first
    sentence, moved onto the audio of the last sentence it holds whole. `unprompted="nothing"`
    makes the retry fail too.
    """

    name = "fake-skip"

    def __init__(self, lecture: np.ndarray, truth: list[tuple[str, float, float]], skip: set[int],
                 unprompted: str = "whole", cold: frozenset[int] = frozenset()) -> None:
        self.lecture, self.skip, self.unprompted, self.cold = lecture, skip, unprompted, cold
        self.sentences = [_spread(text, s, e) for text, s, e in truth]  # in lecture time
        self.calls: list[tuple[int, str | None]] = []
        self.leads: list[bool] = []  # per call: heard with the lead-in from the window before

    def _window(self, audio: np.ndarray) -> tuple[int, float]:
        # Windows start at multiples of WIN_S, or LEAD_S earlier for a lead-in retry; find which one this
        # (possibly extended) audio is, and where it starts.
        for k in range(self.lecture.size // (WIN_S * RATE) + 1):
            for lead in (0, LEAD_S * RATE) if k else (0,):
                start = k * WIN_S * RATE - lead
                if np.array_equal(self.lecture[start:start + audio.size], audio):
                    return k, start / RATE
        raise AssertionError("audio is not a window of the lecture")

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000,
                   initial_prompt: str | None = None) -> list[Segment]:
        k, t0 = self._window(audio)
        self.calls.append((k, initial_prompt))
        self.leads.append(t0 < k * WIN_S)
        t1 = t0 + audio.size / sample_rate
        if k in self.cold and not self.leads[-1]:
            return []  # started mid-sentence, heard nothing: only a lead-in helps
        if initial_prompt == "" and self.unprompted == "nothing":
            return []
        heard = [[Word(w.text, w.start - t0, w.end - t0, w.probability) for w in words if t0 <= w.start and w.end <= t1]
                 for words in self.sentences]
        if initial_prompt != "" and k in self.skip:
            whole = [ws for ws, full in zip(heard, self.sentences, strict=True) if len(ws) == len(full)]
            shift = whole[-1][0].start - whole[0][0].start
            heard = [[Word(w.text, w.start + shift, w.end + shift, w.probability) for w in whole[0]]]
        return [Segment(ws[0].start, ws[-1].end, " ".join(w.text for w in ws), ws) for ws in heard if ws]


NO_HOLES = HoleCheck(enabled=False)


def _run(fake: SkipsWhenPrompted, audio: np.ndarray, initial_prompt: str | None = None,
         check: CoverageCheck | None = None) -> tuple[list[Word], list[WindowRetry]]:
    retries: list[WindowRetry] = []
    windows = ((float(i // RATE), audio[i:i + WIN_S * RATE]) for i in range(0, audio.size, WIN_S * RATE))
    # The hole check is tested in test_speech_holes.py; this fake answers whole windows only.
    batches = transcribe_windows(fake, windows, RATE, overlap_s=2.0, initial_prompt=initial_prompt,
                                 check=check or CoverageCheck(), on_retry=retries.append, holes=NO_HOLES)
    return [w for b in batches for s in b for w in s.words], retries


def test_window_missing_its_speech_is_redone_without_prompt(narration: Narration) -> None:
    audio, truth = narration
    fake = SkipsWhenPrompted(audio, truth, skip={0})
    words, retries = _run(fake, audio)
    assert fake.calls == [(0, None), (0, ""), (1, None)]  # only the poor window is transcribed twice
    assert " ".join(w.text for w in words) == " ".join(SENTENCES)
    hello = words[0]
    assert hello.start == pytest.approx(truth[0][1], abs=0.01)  # back at its place, not over sentence 3
    assert len(retries) == 1
    r = retries[0]
    assert r.t_start == 0.0 and r.kept_retry and r.covered_before < 0.5 < 0.9 < r.covered_after
    heard_to = WIN_S + 2.0  # window 0 was transcribed with the overlap, part of the last sentence included
    assert r.voiced_s == pytest.approx(sum(max(0.0, min(e, heard_to) - s) for _, s, e in truth), abs=0.5)


def test_good_windows_are_transcribed_once(narration: Narration) -> None:
    audio, truth = narration
    fake = SkipsWhenPrompted(audio, truth, skip=set())
    words, retries = _run(fake, audio)
    assert fake.calls == [(0, None), (1, None)] and retries == []
    assert " ".join(w.text for w in words) == " ".join(SENTENCES)


def test_retry_that_is_no_better_is_dropped(narration: Narration) -> None:
    audio, truth = narration
    fake = SkipsWhenPrompted(audio, truth, skip={0}, unprompted="nothing")
    words, retries = _run(fake, audio)
    assert fake.calls == [(0, None), (0, ""), (1, None)]
    assert [r.kept_retry for r in retries] == [False]
    # The prompted transcript stays, misplaced first sentence and all.
    said = " ".join(w.text for w in words)
    assert said.startswith(SENTENCES[0]) and "bile" not in said and said.endswith("take care.")
    assert words[0].start == pytest.approx(truth[2][1], abs=0.01)


def test_no_retry_without_prompt_or_when_disabled(narration: Narration) -> None:
    audio, truth = narration
    fake = SkipsWhenPrompted(audio, truth, skip={0})
    _run(fake, audio, check=CoverageCheck(enabled=False))
    assert fake.calls == [(0, None), (1, None)]
    # With the prompt already off only a lead-in is different, and the first window has nothing before it.
    fake = SkipsWhenPrompted(audio, truth, skip={0}, unprompted="nothing")
    _, retries = _run(fake, audio, initial_prompt="")
    assert fake.calls == [(0, ""), (1, ""), (1, "")] and fake.leads == [False, False, True]
    assert [(r.t_start, r.how, r.kept_retry) for r in retries] == [(WIN_S, "lead-in", False)]


def test_window_starting_mid_sentence_is_redone_with_a_lead_in(narration: Narration) -> None:
    audio, truth = narration
    fake = SkipsWhenPrompted(audio, truth, skip=set(), cold=frozenset({1}))
    words, retries = _run(fake, audio)
    # Window 1 came out empty; the lead-in retry (prompted, 2 s earlier) and the unprompted one were both tried.
    assert fake.calls == [(0, None), (1, None), (1, None), (1, "")] and fake.leads == [False, False, True, False]
    assert [(r.t_start, r.how, r.kept_retry) for r in retries] == [(WIN_S, "lead-in", True)]
    # Every word once, at its time: the lead-in's own words (window 0's, before the seam) were dropped.
    assert " ".join(w.text for w in words) == " ".join(SENTENCES)
    starts = [w.start for w in words]
    assert starts == sorted(starts)


def test_real_whisper_recovers_skipped_speech() -> None:
    # tiny.en with the domain prompt stopped after "A large, minutely, free-d" on this sentence at
    # 140 wpm (about half its speech); unprompted it heard it to the end. Int8 decoding can differ
    # between CPUs, so the retry itself is not required, only that the result covers the speech.
    text = "A large binucleate Reed-Sternberg cell lies among small lymphocytes."
    pad = np.zeros(RATE, np.float32)
    audio = np.concatenate([pad, speak(text, 140), pad])
    whisper = FasterWhisperTranscriber(beam_size=1, cpu_threads=2)
    prompts: list[str | None] = []

    class Counting:
        name = whisper.name

        def transcribe(self, audio: np.ndarray, sample_rate: int = 16000,
                       initial_prompt: str | None = None) -> list[Segment]:
            prompts.append(initial_prompt)
            return whisper.transcribe(audio, sample_rate, initial_prompt=initial_prompt)

    retries: list[WindowRetry] = []
    segments = [s for b in transcribe_windows(Counting(), [(0.0, audio)], on_retry=retries.append) for s in b]
    said = " ".join(s.text for s in segments).lower()
    assert "lymphocytes" in said, said
    assert coverage(speech_activity(audio, RATE), segments).speech_covered > 0.9
    assert prompts == [None, ""] if retries else prompts == [None]


def test_a_segment_cut_at_the_seam_is_marked_and_keeps_the_mark_when_shifted() -> None:
    ws = [Word(f"w{i}", float(i), i + 0.5, 0.9) for i in range(6)]
    whole = Segment(0.0, 5.5, " ".join(w.text for w in ws), ws)
    left, right = merge_at_seam([whole], [whole], 3.0)
    assert [w.text for w in left[0].words] == ["w0", "w1", "w2"] and left[0].cut  # lost its end at the seam
    assert [w.text for w in right[0].words] == ["w3", "w4", "w5"] and not right[0].cut  # its end is Whisper's
    assert shift_segments(left, 30.0)[0].cut and not clip_segments([whole], 0.0, 99.0)[0].cut


class LoopsWhenPrompted:
    """Greedy decoding with the prompt locks onto a phrase (seen with tiny.en); without it the window is clean."""

    name = "fake-loop"

    def __init__(self) -> None:
        self.prompts: list[str | None] = []

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000,
                   initial_prompt: str | None = None) -> list[Segment]:
        self.prompts.append(initial_prompt)
        text = "Amyloid expands the glomeruli." if initial_prompt == "" else "and the blood of the body, " * 6
        ws = [Word(t, 0.5 + 0.3 * i, 0.7 + 0.3 * i, 0.9) for i, t in enumerate(text.split())]
        return [Segment(ws[0].start, ws[-1].end, text, ws)]


def test_a_window_caught_in_a_repetition_loop_is_redone() -> None:
    fake = LoopsWhenPrompted()
    found, retry = transcribe_checked(fake, np.zeros(RATE * 4, np.float32), RATE, None)
    # Silent audio: the coverage check alone would pass it; the loop is what sends it back.
    assert fake.prompts == [None, ""] and retry is not None and retry.kept_retry and retry.how == "unprompted"
    assert [s.text for s in found] == ["Amyloid expands the glomeruli."]
