"""Term rescue: a sentence that lost every term to greedy decoding is heard again with a wider beam."""

from __future__ import annotations

import numpy as np
import pytest

from quilt.adapters.config import ConfigError, Settings, load_settings
from quilt.adapters.stage_params import term_rescue
from quilt.core.types import Segment, Word
from quilt.stages.asr.term_rescue import RescueAttempt, TermRescue, rescue_terms
from quilt.stages.asr.windows import transcribe_windows
from quilt.stages.common.corrector import denoise
from quilt.stages.common.lexicon import load_lexicon

RATE = 100  # the fake audio's sample rate: only lengths matter
AS_IS = TermRescue(speeds=(1.0,))  # the default: one redo at the recorded speed, so times compare directly


def sentence(start: float, text: str, probability: float = 0.9, step: float = 0.4) -> Segment:
    words = [Word(w, start + i * step, start + i * step + 0.3, probability) for i, w in enumerate(text.split())]
    return Segment(words[0].start, words[-1].end, text, words)


class Redoer:
    """Greedy decoding is never asked for here; a beam-search redo answers with `redo` (times relative to the clip)."""

    name = "fake"

    def __init__(self, redo: str | None, step: float = 0.4) -> None:
        self.redo, self.step = redo, step
        self.calls: list[tuple[float, int | None]] = []  # (clip length in seconds, beam size)

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000, initial_prompt: str | None = None,
                   beam_size: int | None = None) -> list[Segment]:
        self.calls.append((audio.size / sample_rate, beam_size))
        return [sentence(0.3, self.redo, step=self.step)] if self.redo else []


GARBLED = "Notice the malinified tissue in the middle of the field."
HEARD = "Notice the lymphoid tissue in the middle of the field."
MEDICAL = "The hepatocytes show macrovesicular steatosis."
CHATTER = "Please like and subscribe to the channel."


def audio(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def texts(segments: list[Segment]) -> list[str]:
    return [s.text for s in denoise(segments, load_lexicon())]


def test_a_garbled_sentence_is_replaced_by_a_redo_that_hears_its_term() -> None:
    segments = [sentence(0.0, MEDICAL), sentence(3.0, GARBLED), sentence(9.0, CHATTER)]
    fake = Redoer(HEARD)
    out, attempts = rescue_terms(fake, audio(14), RATE, segments, None, load_lexicon(), AS_IS)
    assert len(fake.calls) == 1 and fake.calls[0][1] == 5  # only the garbled one, with beam 5
    assert fake.calls[0][0] == pytest.approx(GARBLED.count(" ") * 0.4 + 0.3 + 0.6, abs=0.02)  # padded 0.3 s a side
    assert attempts == [RescueAttempt(3.0, 6.9, GARBLED, HEARD, True)]
    assert texts(out) == [MEDICAL, HEARD, CHATTER]
    rescued = [s for s in denoise(out, load_lexicon()) if s.text == HEARD][0]
    assert rescued.medical and rescued.start == pytest.approx(3.0) and rescued.end == pytest.approx(6.9)


def test_a_redo_that_finds_no_term_or_says_too_much_leaves_the_words_alone() -> None:
    segments = [sentence(0.0, GARBLED)]
    for redo, step in (("Notice the mild tissue in the middle of the field.", 0.4),  # still no term
                       ("Notice the lymphoid tissue " + "and more words said here " * 4, 0.15),  # twice the words
                       (None, 0.4)):  # heard nothing
        fake = Redoer(redo, step)
        both = TermRescue(speeds=(0.92, 1.0))
        out, attempts = rescue_terms(fake, audio(6), RATE, segments, None, load_lexicon(), both)
        assert out == segments and len(attempts) == 1 and not attempts[0].kept
        assert attempts[0].decodes == len(fake.calls) == 2  # slowed down, then as recorded


def test_medical_chatter_confident_and_short_sentences_are_not_heard_again() -> None:
    segments = [sentence(0.0, MEDICAL, probability=0.3), sentence(3.0, CHATTER, probability=0.3),
                sentence(7.0, "I spend my day looking at slides."),  # no doubted word
                sentence(10.0, "Malinified.", probability=0.3)]  # under a second
    fake = Redoer(HEARD)
    out, attempts = rescue_terms(fake, audio(12), RATE, segments, None, load_lexicon())
    assert fake.calls == [] and attempts == [] and out == segments


def test_rescue_off_and_segments_without_word_timings_are_left_alone() -> None:
    fake = Redoer(HEARD)
    segments = [sentence(0.0, GARBLED)]
    assert rescue_terms(fake, audio(6), RATE, segments, None, load_lexicon(), TermRescue(beam_size=0)) == (
        segments, [])
    bare = [Segment(0.0, 4.0, GARBLED, [])]
    assert rescue_terms(fake, audio(6), RATE, bare, None, load_lexicon()) == (bare, [])
    assert fake.calls == []


class Windowed(Redoer):
    """Greedy: the garbled sentence at 1 s into whatever window it is given."""

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000, initial_prompt: str | None = None,
                   beam_size: int | None = None) -> list[Segment]:
        if beam_size:
            return super().transcribe(audio, sample_rate, initial_prompt, beam_size)
        return [sentence(1.0, GARBLED)]


def test_windows_report_rescues_in_video_time() -> None:
    heard: list[RescueAttempt] = []
    fake = Windowed(HEARD)
    windows = iter([(30.0, audio(10))])
    batches = list(transcribe_windows(fake, windows, RATE, overlap_s=0, initial_prompt="", rescue=AS_IS,
                                      on_rescue=heard.append))
    assert [(a.t_start, a.t_end, a.kept) for a in heard] == [(31.0, 34.9, True)]
    words = [w for b in batches for s in b for w in s.words]
    assert " ".join(w.text for w in words) == HEARD and words[0].start == pytest.approx(31.0)
    # Without `rescue` (the default) the greedy words stand.
    plain = list(transcribe_windows(Windowed(HEARD), iter([(30.0, audio(10))]), RATE, overlap_s=0, initial_prompt=""))
    assert " ".join(w.text for b in plain for s in b for w in s.words) == GARBLED


class HearsWhenSlow(Redoer):
    """Hears the term only in audio slowed to 0.92 of its speed, where its times are stretched too."""

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000, initial_prompt: str | None = None,
                   beam_size: int | None = None) -> list[Segment]:
        self.calls.append((audio.size / sample_rate, beam_size))
        slowed = len(self.calls) == 1
        return [sentence(0.3 / 0.92, HEARD if slowed else GARBLED, step=0.4 / 0.92)]


def test_a_slowed_down_hearing_is_mapped_back_to_video_time() -> None:
    segments = [sentence(3.0, GARBLED)]
    fake = HearsWhenSlow(None)
    out, attempts = rescue_terms(fake, audio(8), RATE, segments, None, load_lexicon(), TermRescue(speeds=(0.92, 1.0)))
    assert [round(length, 2) for length, _ in fake.calls] == [round(4.5 / 0.92, 2), 4.5]
    assert attempts[0].kept and attempts[0].decodes == 2
    words = [w for s in out for w in s.words]
    assert " ".join(w.text for w in words) == HEARD
    assert [w.start for w in words] == pytest.approx([3.0 + 0.4 * i for i in range(len(words))], abs=0.01)


class TwoHearings(Redoer):
    """Both hearings find a term; the one at the recorded speed is the surer."""

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000, initial_prompt: str | None = None,
                   beam_size: int | None = None) -> list[Segment]:
        self.calls.append((audio.size / sample_rate, beam_size))
        slowed = len(self.calls) == 1
        text = "Emm the positive sense in the glomerulus phthalate here." if slowed else HEARD
        return [sentence(0.3, text, probability=0.4 if slowed else 0.8)]


def test_of_two_hearings_that_find_a_term_the_surer_one_is_kept() -> None:
    out, attempts = rescue_terms(TwoHearings(None), audio(8), RATE, [sentence(3.0, GARBLED)], None, load_lexicon(),
                                 TermRescue(speeds=(0.92, 1.0)))
    assert attempts[0].kept and attempts[0].after == HEARD
    assert " ".join(w.text for s in out for w in s.words) == HEARD


def test_the_setting_turns_rescue_off_and_is_checked() -> None:
    assert term_rescue(Settings()) == TermRescue(beam_size=5, speeds=(1.0,))
    assert term_rescue(Settings(asr_rescue_beam=0)) is None
    assert term_rescue(load_settings({"QUILT_ASR_RESCUE_BEAM": "0"}, config_file=None)) is None
    with pytest.raises(ConfigError, match="asr_rescue_beam"):
        load_settings({"QUILT_ASR_RESCUE_BEAM": "-1"}, config_file=None)


def test_a_redo_from_the_middle_of_a_segment_stays_in_time_order() -> None:
    # Whisper put three sentences in one segment; the garbled middle one is heard again. Kept as one
    # segment, the rest would sort before the redo, and the denoiser would read the third sentence
    # ahead of the second (seen on a tuning lecture: "This glomerulus shows And the pathologist ...").
    first, middle, last = sentence(0.0, MEDICAL), sentence(3.0, GARBLED), sentence(8.0, CHATTER)
    words = first.words + middle.words + last.words
    whole = Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), words, cut=True)
    out, attempts = rescue_terms(Redoer(HEARD), audio(14), RATE, [whole], None, load_lexicon(), AS_IS)
    assert attempts[0].kept
    assert texts(out) == [MEDICAL, HEARD, CHATTER]
    heard = [w.start for s in out for w in s.words]
    assert heard == sorted(heard)
    assert [s.cut for s in out] == [False, False, True]  # the seam mark stays with the segment's end
