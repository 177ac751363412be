"""Is the narration English? A check on Whisper's own output, for the English-only default model.

tiny.en cannot name a language: on other languages it writes English-looking text anyway, or
next to nothing. What gives it away, measured on espeak-ng narration (tests/stages/asr/test_language.py):
German comes out as non-words at low confidence (mean word probability 0.20 against 0.76 for
English), Spanish as a confident loop of one English phrase ("the study of the study of ...") or
as two words for ten seconds of speech. So a transcript is judged not English when its words are
unsure, mostly not in the dictionary, one long loop, or far too few for the voiced time. On 16
generated English lectures none was flagged (lowest: mean probability 0.66, 83% known words).
A video with no speech at all is not judged: it finishes with no pairs.
A multilingual Whisper on a GPU host would report the language itself; this check still holds there.
"""

from __future__ import annotations

from dataclasses import dataclass

from quilt.core.types import Segment, StageError
from quilt.stages.common.lexicon import Lexicon
from quilt.stages.common.repetition import compression_ratio

MIN_WORDS = 12  # below this there is too little speech to judge: a short clip passes
MIN_MEAN_PROBABILITY = 0.45
MIN_KNOWN_SHARE = 0.6
MAX_WHOLE_RATIO = 3.0  # zlib ratio of the whole transcript: a lecture does not repeat itself this much
MIN_VOICED_S = 8.0  # voiced seconds before "too few words" can be judged
MIN_WORDS_PER_VOICED_S = 0.5  # English narration runs at 2-3 words a second of voiced audio
POLICIES = ("flag", "skip")


@dataclass(frozen=True)
class LanguageVerdict:
    english: bool
    words: int
    mean_probability: float
    known_share: float  # words the English dictionary or the medical lexicon knows
    compression: float
    why: str  # empty when English
    voiced_s: float = -1.0  # voiced audio seconds, when known

    def detail(self) -> dict[str, float | int | bool | str]:
        return {"english": self.english, "words": self.words, "mean_word_probability": round(self.mean_probability, 3),
                "known_word_share": round(self.known_share, 3), "compression": round(self.compression, 2),
                "voiced_s": round(self.voiced_s, 1), "why": self.why}


def judge_language(segments: list[Segment], lexicon: Lexicon, voiced_s: float | None = None) -> LanguageVerdict:
    words = [w for s in segments for w in s.words]
    tokens = ["".join(ch for ch in w.text.lower() if ch.isalpha()) for w in words]
    tokens = [t for t in tokens if t]
    text = " ".join(s.text.strip() for s in segments)
    mean_p = sum(w.probability for w in words) / len(words) if words else 1.0
    known = sum(lexicon.is_known(t) for t in tokens) / len(tokens) if tokens else 1.0
    ratio = compression_ratio(text)
    voiced = -1.0 if voiced_s is None else voiced_s
    reasons = []
    if voiced >= MIN_VOICED_S and len(tokens) < MIN_WORDS_PER_VOICED_S * voiced:
        reasons.append(f"{voiced:.0f} s of speech gave only {len(tokens)} English words")
    if len(tokens) < MIN_WORDS:
        return LanguageVerdict(not reasons, len(tokens), mean_p, known, ratio, "; ".join(reasons), voiced)
    if mean_p < MIN_MEAN_PROBABILITY:
        reasons.append(f"mean word probability {mean_p:.2f} < {MIN_MEAN_PROBABILITY}")
    if known < MIN_KNOWN_SHARE:
        reasons.append(f"only {known:.0%} of the words are English or medical")
    if ratio > MAX_WHOLE_RATIO:
        reasons.append(f"the transcript is one loop (compression {ratio:.1f} > {MAX_WHOLE_RATIO})")
    return LanguageVerdict(not reasons, len(tokens), mean_p, known, ratio, "; ".join(reasons), voiced)


def check_language(verdict: LanguageVerdict, policy: str) -> None:
    """With policy "skip", a transcript judged not English fails the video (reason non_english)."""
    if policy not in POLICIES:
        raise ValueError(f"non_english must be one of {POLICIES}, got {policy!r}")
    if policy == "skip" and not verdict.english:
        raise StageError("non_english", f"the narration does not look English ({verdict.why}); skipped because "
                         "non_english = skip (set non_english = flag to pair it anyway)")
