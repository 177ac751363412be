"""The English-narration check on real tiny.en transcripts of espeak-ng speech in three languages."""

from __future__ import annotations

import pytest

from quilt.core.types import Segment, StageError, Word
from quilt.evaluation.bench.espeak import espeak
from quilt.stages.asr.language import LanguageVerdict, check_language, judge_language
from quilt.stages.asr.whisper import FasterWhisperTranscriber
from quilt.stages.asr.windows import SpeechTally, transcribe_windows
from quilt.stages.common.corrector import load_lexicon
from quilt.testing.speech import SAMPLE_RATE, resample

NARRATION = {
    "en-us": "This hematoxylin and eosin section shows hepatocytes around the bile duct. "
             "The lymphocytes show necrosis next to the glandular epithelium.",
    "es": "Esta sección teñida con hematoxilina y eosina muestra hepatocitos alrededor del conducto biliar. "
          "Los linfocitos muestran necrosis junto al epitelio glandular.",
    "de": "Dieser mit Hämatoxylin und Eosin gefärbte Schnitt zeigt Leberzellen um den Gallengang. "
          "Die Lymphozyten zeigen Nekrosen neben dem Drüsenepithel.",
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, LanguageVerdict]:
    transcriber = FasterWhisperTranscriber()
    lexicon = load_lexicon()
    out = {}
    for voice, text in NARRATION.items():
        audio, rate = espeak(text, voice)
        speech = resample(audio, rate, SAMPLE_RATE)
        tally = SpeechTally()
        segments = [s for batch in transcribe_windows(transcriber, [(0.0, speech)], SAMPLE_RATE, tally=tally)
                    for s in batch]
        out[voice] = judge_language(segments, lexicon, tally.voiced_s)
    return out


def test_english_passes_and_other_languages_are_caught(verdicts: dict[str, LanguageVerdict]) -> None:
    for voice, verdict in verdicts.items():
        print(voice, verdict.detail())
    assert verdicts["en-us"].english and verdicts["en-us"].why == ""
    assert not verdicts["es"].english and not verdicts["de"].english
    assert verdicts["en-us"].mean_probability > verdicts["de"].mean_probability


def test_policy_skip_fails_the_video_and_flag_lets_it_through(verdicts: dict[str, LanguageVerdict]) -> None:
    check_language(verdicts["de"], "flag")
    check_language(verdicts["en-us"], "skip")
    with pytest.raises(StageError) as caught:
        check_language(verdicts["de"], "skip")
    assert caught.value.reason == "non_english" and "non_english = flag" in str(caught.value)
    with pytest.raises(ValueError, match="non_english must be one of"):
        check_language(verdicts["de"], "drop")


def test_little_speech_is_not_judged_but_many_voiced_seconds_with_few_words_are() -> None:
    words = [Word("Hmm", 0.0, 0.5, 0.1), Word("ok.", 0.5, 1.0, 0.1)]
    segments = [Segment(0.0, 1.0, "Hmm ok.", words)]
    assert judge_language(segments, load_lexicon(), voiced_s=1.5).english  # a cough and a mumble
    assert judge_language([], load_lexicon(), voiced_s=0.0).english  # a video with no speech
    verdict = judge_language(segments, load_lexicon(), voiced_s=20.0)
    assert not verdict.english and "20 s of speech gave only 2 English words" in verdict.why
