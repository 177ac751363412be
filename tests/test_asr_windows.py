"""Overlapping ASR windows: seam merging on synthetic segments and with real Whisper."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from quilt.stages.asr import FasterWhisperTranscriber, prepare_audio
from quilt.stages.asr_windows import clip_segments, merge_at_seam, transcribe_windows
from quilt.stages.types import Segment, Word
from tests.test_asr_local import espeak_audio

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
    words = [w.text for b in transcribe_windows(fake, _windows(9, 4), sample_rate=100, overlap_s=2.0)
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
