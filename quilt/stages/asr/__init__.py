"""ASR stage: a video's audio windows -> Whisper's timed words, checked for skipped speech and for English.

`transcribe_lecture` is the stage's one entry point, called by the ASR service (Whisper served by
Triton) and by `quilt process` (faster-whisper in-process). Windows are transcribed one after the
other with a short overlap merged at the seams; a window whose transcript skipped speech is heard
again, and a sentence that lost every histopathology term can be heard again with a wider beam.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from quilt.core.types import ModelUnavailable, Segment
from quilt.stages.asr.language import LanguageVerdict, check_language, judge_language
from quilt.stages.asr.screen_prompt import window_prompts
from quilt.stages.asr.term_rescue import RescueAttempt, TermRescue
from quilt.stages.asr.whisper import FasterWhisperTranscriber, Transcriber, TritonTranscriber, segments_to_json
from quilt.stages.asr.windows import SpeechTally, WindowRetry, transcribe_windows
from quilt.stages.common.lexicon import Lexicon, load_lexicon
from quilt.stages.common.screen_vocab import ScreenShown, screen_terms

__all__ = ["AsrParams", "FasterWhisperTranscriber", "LanguageVerdict", "ModelUnavailable", "RescueAttempt",
           "ScreenShown", "TermRescue", "Transcriber", "Transcription", "TritonTranscriber", "WindowRetry",
           "load_lexicon", "screen_shown", "segments_to_json", "transcribe_lecture"]


@dataclass(frozen=True)
class AsrParams:
    overlap_s: float = 2.0  # audio shared by consecutive windows, merged at the seam
    initial_prompt: str | None = None  # the Transcriber convention: None = its own prompt, "" = none
    rescue: TermRescue | None = None  # None: sentences that lost every term are not heard again
    non_english: str = "flag"  # "flag": go on (the verdict is reported); "skip": fail the video (non_english)


@dataclass
class Transcription:
    segments: list[Segment]
    language: LanguageVerdict
    retries: list[WindowRetry] = field(default_factory=list)  # windows and skipped stretches heard again
    rescues: list[RescueAttempt] = field(default_factory=list)  # sentences heard again for their terms

    @property
    def windows_retried(self) -> int:
        return sum(r.how != "hole" for r in self.retries)

    @property
    def holes_reheard(self) -> int:
        return sum(r.how == "hole" for r in self.retries)

    @property
    def holes_filled(self) -> int:
        return sum(r.how == "hole" and r.kept_retry for r in self.retries)

    @property
    def sentences_rescued(self) -> int:
        return sum(a.kept for a in self.rescues)


def screen_shown(frames: Iterable[tuple[Sequence[tuple[float, float]], str]], lexicon: Lexicon) -> list[ScreenShown]:
    """The medical terms each key frame's screen text spells, once per span it was on screen.

    `frames`: (the spans a key frame was shown, its OCR text) each. Frames with no such terms are left out.
    """
    out = []
    for spans, text in frames:
        terms = tuple(screen_terms(text, lexicon)) if text else ()
        out += [ScreenShown(start, end, terms) for start, end in spans if terms]
    return out


def transcribe_lecture(transcriber: Transcriber, windows: Iterable[tuple[float, np.ndarray]], sample_rate: int,
                       params: AsrParams, lexicon: Lexicon,
                       on_window: Callable[[int, list[Segment]], None] | None = None,
                       on_retry: Callable[[WindowRetry], None] | None = None,
                       on_rescue: Callable[[RescueAttempt], None] | None = None,
                       on_language: Callable[[LanguageVerdict], None] | None = None,
                       screen: Sequence[ScreenShown] = ()) -> Transcription:
    """The whole transcript of `windows` ((start second, samples) each), in video time.

    `on_window(number, segments)` hears each window's final segments as soon as they are known (a long
    lecture's text can be stored long before it ends); `on_retry`, `on_rescue` and `on_language` hear the
    redos and the language verdict as they happen. StageError("non_english") when the narration is judged
    not English and `params.non_english` is "skip". `screen`, the terms the slides spell and when
    (`screen_shown`), goes into the prompt of the windows around them (screen_prompt.py).
    """
    result = Transcription(segments=[], language=LanguageVerdict(True, 0, 1.0, 1.0, 0.0, ""))

    def retried(retry: WindowRetry) -> None:
        result.retries.append(retry)
        if on_retry is not None:
            on_retry(retry)

    def rescued(attempt: RescueAttempt) -> None:
        result.rescues.append(attempt)
        if on_rescue is not None:
            on_rescue(attempt)

    tally = SpeechTally()
    batches = transcribe_windows(transcriber, windows, sample_rate, overlap_s=params.overlap_s,
                                 initial_prompt=params.initial_prompt, on_retry=retried, tally=tally,
                                 rescue=params.rescue, lexicon=lexicon, on_rescue=rescued,
                                 prompt_at=window_prompts(screen, params.initial_prompt) if screen else None)
    for number, batch in enumerate(batches):
        result.segments.extend(batch)
        if on_window is not None:
            on_window(number, batch)
    result.language = judge_language(result.segments, lexicon, tally.voiced_s)
    if on_language is not None:
        on_language(result.language)
    check_language(result.language, params.non_english)
    return result
