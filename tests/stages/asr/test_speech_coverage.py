"""Energy voice activity on generated speech, and how transcripts are scored against it."""

from __future__ import annotations

import numpy as np
import pytest

from quilt.core.types import Segment, Word
from quilt.stages.asr.speech_coverage import coverage, frame_levels, speech_activity
from quilt.testing.speech import SAMPLE_RATE, speak

FIRST = "The bile duct is lined by cuboidal epithelium."
SECOND = "Necrosis is seen in the centre of the granuloma."


def _extent(clip: np.ndarray) -> tuple[float, float]:
    """Where espeak's output is audible: its first and last sample above -60 dBFS, in seconds."""
    loud = np.flatnonzero(np.abs(clip) > 1e-3)
    return loud[0] / SAMPLE_RATE, (loud[-1] + 1) / SAMPLE_RATE


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def lecture() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """1 s silence, FIRST, 2.5 s silence, SECOND, 1 s silence; and where the two sentences are audible."""
    a, b = speak(FIRST), speak(SECOND)
    parts = [_silence(1.0), a, _silence(2.5), b, _silence(1.0)]
    b_at = 1.0 + a.size / SAMPLE_RATE + 2.5
    (a0, a1), (b0, b1) = _extent(a), _extent(b)
    return np.concatenate(parts), [(1.0 + a0, 1.0 + a1), (b_at + b0, b_at + b1)]


def _assert_spans(found: list[tuple[float, float]], truth: list[tuple[float, float]], tol: float = 0.2) -> None:
    assert len(found) == len(truth), found
    for (s, e), (ts, te) in zip(found, truth, strict=True):
        assert s == pytest.approx(ts, abs=tol) and e == pytest.approx(te, abs=tol), (found, truth)


def test_spans_are_the_sentences_not_the_pauses(lecture: tuple[np.ndarray, list[tuple[float, float]]]) -> None:
    audio, truth = lecture
    act = speech_activity(audio, SAMPLE_RATE)
    # The gaps between words are bridged (one span per sentence), the 2.5 s pause is not.
    _assert_spans(act.spans, truth)
    assert act.voiced_s == pytest.approx(sum(e - s for s, e in truth), abs=0.3)
    assert act.duration_s == pytest.approx(audio.size / SAMPLE_RATE, abs=0.02)


@pytest.mark.parametrize("snr_db", [30, 12])
def test_spans_survive_background_noise(lecture: tuple[np.ndarray, list[tuple[float, float]]], snr_db: int) -> None:
    audio, truth = lecture
    speech_rms = float(np.sqrt(np.mean(audio[np.abs(audio) > 1e-3] ** 2)))
    noise = np.random.default_rng(snr_db).normal(0, speech_rms / 10 ** (snr_db / 20), audio.size)
    act = speech_activity((audio + noise).astype(np.float32), SAMPLE_RATE)
    # Noise masks the quietest word edges, so a little more slack at the ends.
    _assert_spans(act.spans, truth, tol=0.3)


def test_noise_level_change_is_followed(lecture: tuple[np.ndarray, list[tuple[float, float]]]) -> None:
    # A quiet room, then a fan 18 dB louder from the middle of the pause on: the floor must rise with it,
    # or the whole second half would count as speech.
    audio, truth = lecture
    step = int((truth[0][1] + 1.0) * SAMPLE_RATE)
    rng = np.random.default_rng(7)
    noise = np.concatenate([rng.normal(0, 0.003, step), rng.normal(0, 0.024, audio.size - step)])
    act = speech_activity((audio + noise).astype(np.float32), SAMPLE_RATE)
    speech = sum(e - s for s, e in truth)
    assert act.voiced_s < speech + 1.5  # at most about a second of the louder noise counted
    for start, end in truth:  # both sentences still heard
        covered = act.voiced[int(start / act.frame_s):int(end / act.frame_s)].mean()
        assert covered > 0.8, (start, end, act.spans)


def test_silence_and_steady_noise_have_no_speech() -> None:
    assert speech_activity(_silence(10), SAMPLE_RATE).spans == []
    hiss = np.random.default_rng(0).normal(0, 0.02, 10 * SAMPLE_RATE).astype(np.float32)
    assert speech_activity(hiss, SAMPLE_RATE).voiced_s == 0.0
    empty = speech_activity(np.zeros(0, np.float32), SAMPLE_RATE)
    assert empty.spans == [] and empty.voiced_s == 0.0
    # A lone click is not speech.
    click = _silence(5)
    click[SAMPLE_RATE * 2:SAMPLE_RATE * 2 + 400] = 0.5
    assert speech_activity(click, SAMPLE_RATE).spans == []


def test_frame_levels() -> None:
    tone = 0.5 * np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE)
    levels = frame_levels(tone, SAMPLE_RATE)
    assert levels.size == 50 and levels == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
    assert frame_levels(np.zeros(330), SAMPLE_RATE).tolist() == [-100.0] * 2  # partial frame kept


def _words(*spans: tuple[float, float]) -> list[Segment]:
    words = [Word(f"w{i}", s, e, 0.9) for i, (s, e) in enumerate(spans)]
    return [Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), words)] if words else []


def test_coverage_of_transcripts(lecture: tuple[np.ndarray, list[tuple[float, float]]]) -> None:
    audio, truth = lecture
    act = speech_activity(audio, SAMPLE_RATE)
    (a0, a1), (b0, b1) = truth

    def words_over(start: float, end: float, n: int = 6) -> list[tuple[float, float]]:
        edges = np.linspace(start, end, n + 1)
        return [(float(s) + 0.05, float(e) - 0.05) for s, e in zip(edges, edges[1:], strict=False)]

    whole = coverage(act, _words(*words_over(a0, a1), *words_over(b0, b1)))
    assert whole.speech_covered > 0.95 and whole.words_on_silence < 0.05

    # Only the first sentence transcribed: covered in proportion to its share of the speech.
    half = coverage(act, _words(*words_over(a0, a1)))
    assert half.speech_covered == pytest.approx((a1 - a0) / ((a1 - a0) + (b1 - b0)), abs=0.05)
    assert half.score < whole.score

    # The failure seen with Whisper: one sentence's words stamped late, over the second sentence's
    # audio. Coverage sees the first sentence untranscribed even though no word is in silence.
    late = coverage(act, _words(*words_over(b0, b0 + (a1 - a0))))
    assert late.speech_covered < 0.6 and late.words_on_silence == 0.0

    # Words in the pause (or past the end of the audio) are time on silence.
    pause = coverage(act, _words((a1 + 0.8, a1 + 1.6), (audio.size / SAMPLE_RATE + 1, audio.size / SAMPLE_RATE + 2)))
    assert pause.words_on_silence == pytest.approx(1.0) and pause.speech_covered == 0.0

    # Segments without word timings count as one word each.
    bare = [Segment(a0, a1, "first", []), Segment(b0, b1, "second", [])]
    assert coverage(act, bare).speech_covered > 0.95

    nothing = coverage(act, [])
    assert nothing.speech_covered == 0.0 and nothing.words_on_silence == 0.0
    quiet = coverage(speech_activity(_silence(3), SAMPLE_RATE), [])
    assert quiet.speech_covered == 1.0 and quiet.score == 1.0
