"""A lecture's on-screen vocabulary: the histopathology terms its slides spell, as priors for ASR and denoiser.

OCR text is noisy and hostile (a slide can say anything), so only words the project already
knows as medical become vocabulary: terms of the curated list found in the text, and longer words
of the medical word list. Nothing from the screen is ever inserted into a transcript by itself: a
screen term only wins a correction that the sound and spelling of what was heard already support
(`ScreenVocabulary.match`), and only biases Whisper through its prompt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from quilt.stages.common.lexicon import HeardSpan, Lexicon, as_target

MAX_SCREEN_TERMS = 24  # per lecture: a handful of slides' titles and captions, never a whole page's words
_MIN_WORD_LETTERS = 6  # shorter medical-list words ("ileum" aside) are too often ordinary abbreviations
# A term seen on the lecture's slides is preferred over the term list's best guess when its score
# is within this margin, and may pass the corrector's threshold by the same margin.
SCREEN_BONUS = 0.05


def screen_terms(text: str, lexicon: Lexicon, limit: int = MAX_SCREEN_TERMS) -> list[str]:
    """The medical vocabulary in OCR'd text: term-list terms first (as the list spells them), then medical words."""
    terms = lexicon.terms_in(text)
    covered = {w for term in terms for w in re.findall(r"[a-z0-9]+", term.lower())}
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]+[A-Za-z]", text)
             if len(w) >= _MIN_WORD_LETTERS and w.lower() not in covered and lexicon.is_medical_word(w)]
    return list(dict.fromkeys([*terms, *(w.lower() for w in words)]))[:limit]


def merge_terms(groups: Iterable[Iterable[str]], limit: int = MAX_SCREEN_TERMS) -> list[str]:
    """Several frames' terms as one list, first seen first, each once (case-insensitively)."""
    seen: dict[str, str] = {}
    for group in groups:
        for term in group:
            seen.setdefault(term.lower(), term)
    return list(seen.values())[:limit]


@dataclass(frozen=True)
class ScreenShown:
    """Terms a slide spelled, and when it was on screen."""

    t_start: float
    t_end: float
    terms: tuple[str, ...]


def terms_near(shown: Sequence[ScreenShown], t_start: float, t_end: float, margin_s: float,
               limit: int = MAX_SCREEN_TERMS) -> list[str]:
    """The terms of slides on screen within `margin_s` of [t_start, t_end], in order of appearance."""
    near = sorted((s for s in shown if s.t_end >= t_start - margin_s and s.t_start <= t_end + margin_s),
                  key=lambda s: s.t_start)
    return merge_terms((s.terms for s in near), limit)


def shown_throughout(terms: Sequence[str]) -> list[ScreenShown]:
    """Terms taken as on screen the whole time (a single slide, a benchmark sentence)."""
    return [ScreenShown(-math.inf, math.inf, tuple(terms))] if terms else []


@dataclass
class ScreenVocabulary:
    """Correction targets seen on the lecture's slides, matched like the term list's (lexicon.py)."""

    terms: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A multi-word term's longer words are targets too: "medularry" is heard where the slide says
        # "Medullary carcinoma", and the narrator may say the one word alone.
        targets = [*self.terms, *(w for t in self.terms if " " in t.strip() for w in t.split() if len(w) >= 6)]
        self._entries = [entry for entry in map(as_target, dict.fromkeys(targets)) if entry is not None]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def match(self, span: str) -> tuple[str, float] | None:
        """The closest screen term to a heard span and its score (sound and spelling, as the lexicon scores);
        the corrector decides with SCREEN_BONUS whether it is close enough."""
        heard = HeardSpan.of(span)
        return heard.closest(self._entries, min_score=0.0) if heard is not None else None
