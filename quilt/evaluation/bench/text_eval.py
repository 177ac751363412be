"""Scoring for `quilt bench text`: speak known sentences, transcribe, denoise, compare with the truth."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np

from quilt.core.types import Sentence
from quilt.evaluation.bench.espeak import espeak
from quilt.evaluation.bench.text_corpus import BenchSentence
from quilt.stages.asr.whisper import SAMPLE_RATE, Transcriber
from quilt.stages.common.corrector import Lexicon, denoise
from quilt.stages.common.words import singular

# Several accents and speeds: one voice at one speed would let the denoiser overfit its quirks.
VOICES: tuple[tuple[str, int], ...] = (("en-us", 140), ("en-us", 170), ("en-gb", 150), ("en-gb-x-rp", 160))


def speak(text: str, voice: str = "en-us", rate_wpm: int = 150) -> np.ndarray:
    """Mono float32 speech at 16 kHz from espeak-ng (the bench ships no recordings)."""
    data, rate = espeak(text, voice, rate_wpm)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        data = resample_poly(data, SAMPLE_RATE, rate).astype(np.float32)
    # Half a second of silence either side, as between sentences of a lecture.
    pad = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    return np.concatenate([pad, data, pad])


def normalise(text: str) -> list[str]:
    """Lower-case words; hyphens and punctuation become spaces ("Ki-67" -> "ki 67")."""
    return re.findall(r"[a-z0-9]+", text.lower().replace("&", " and "))


def term_found(term: str, text: str) -> bool:
    """The term's words, plural-folded, adjacent in the text; spacing may differ ("HMB45" is "HMB-45")."""
    want = "".join(singular(w) for w in normalise(term))
    have = [singular(w) for w in normalise(text)]
    n = len(normalise(term))
    return any("".join(have[i:i + k]) == want for k in range(1, n + 2) for i in range(len(have) - k + 1))


def false_corrections(reference: str, raw: str, corrected: str) -> int:
    """Raw ASR words that matched the reference but the denoiser changed (so now wrong)."""
    ref, hyp, out = normalise(reference), normalise(raw), normalise(corrected)
    right: set[int] = set()
    for tag, _i1, _i2, j1, j2 in SequenceMatcher(None, ref, hyp, autojunk=False).get_opcodes():
        if tag == "equal":
            right.update(range(j1, j2))
    changed: set[int] = set()
    for tag, i1, i2, _j1, _j2 in SequenceMatcher(None, hyp, out, autojunk=False).get_opcodes():
        if tag != "equal":
            changed.update(range(i1, i2))
    return len(right & changed)


@dataclass
class Utterance:
    voice: str
    sentence: BenchSentence
    raw: str
    corrected: str
    kept: bool  # some denoised sentence was marked medical
    audio_s: float
    asr_s: float


@dataclass
class Scores:
    utterances: list[Utterance] = field(default_factory=list)

    def _ratio(self, num: float, den: float) -> float:
        return num / den if den else 0.0

    def term_accuracy(self, corrected: bool) -> float:
        terms = [(t, u.corrected if corrected else u.raw) for u in self.utterances for t in u.sentence.terms]
        return self._ratio(sum(term_found(t, text) for t, text in terms), len(terms))

    def wer(self, corrected: bool) -> float:
        import jiwer

        refs = [" ".join(normalise(u.sentence.text)) for u in self.utterances]
        hyps = [" ".join(normalise(u.corrected if corrected else u.raw)) for u in self.utterances]
        return float(jiwer.wer(refs, hyps)) if refs else 0.0

    def false_correction_rate(self) -> float:
        wrong = sum(false_corrections(u.sentence.text, u.raw, u.corrected) for u in self.utterances)
        return self._ratio(wrong, sum(len(normalise(u.sentence.text)) for u in self.utterances))

    def chatter_drop(self) -> tuple[float, float]:
        """Precision and recall of dropping (not keeping) chatter sentences."""
        dropped = [u for u in self.utterances if not u.kept]
        chatter = [u for u in self.utterances if u.sentence.chatter]
        hits = sum(u.sentence.chatter for u in dropped)
        return self._ratio(hits, len(dropped)) if dropped else 1.0, self._ratio(hits, len(chatter)) if chatter else 1.0

    def realtime(self) -> float:
        return self._ratio(sum(u.audio_s for u in self.utterances), sum(u.asr_s for u in self.utterances))

    def for_voice(self, voice: str) -> Scores:
        return Scores([u for u in self.utterances if u.voice == voice])

    def summary(self) -> str:
        return (f"text: term_acc_raw={self.term_accuracy(False):.3f} term_acc={self.term_accuracy(True):.3f} "
                f"wer_raw={self.wer(False):.3f} wer={self.wer(True):.3f} "
                f"false_corrections={self.false_correction_rate():.4f} asr_realtime={self.realtime():.2f}")


def run_bench(transcriber: Transcriber, corpus: Sequence[BenchSentence], voices: Sequence[tuple[str, int]],
              lexicon: Lexicon, prompt: str | None,
              on_progress: Callable[[Utterance], None] | None = None) -> Scores:
    scores = Scores()
    for voice, wpm in voices:
        label = f"{voice}@{wpm}"
        for item in corpus:
            audio = speak(item.text, voice, wpm)
            t0 = time.perf_counter()
            segments = transcriber.transcribe(audio, SAMPLE_RATE, initial_prompt=prompt)
            asr_s = time.perf_counter() - t0
            sentences: list[Sentence] = denoise(segments, lexicon)
            utt = Utterance(label, item, " ".join(s.text.strip() for s in segments),
                            " ".join(s.text for s in sentences), any(s.medical for s in sentences),
                            audio.size / SAMPLE_RATE, asr_s)
            scores.utterances.append(utt)
            if on_progress is not None:
                on_progress(utt)
    return scores
