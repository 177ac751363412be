"""Turn raw ASR segments into corrected, sentence-level text.

Whisper mishears histology vocabulary in predictable ways: it keeps the sound
and loses the spelling ("hepatoxylin", "myel duct"), or fuses words
("assintaining"). We only touch words Whisper itself doubted (low probability)
or that no dictionary knows, and only replace them with a term from our
histopathology list whose sound and spelling are both close.
"""


from __future__ import annotations

import re
from collections.abc import Sequence

from quilt.core.types import Segment, Sentence, SoftBreak, Word
from quilt.stages.common.entities import default_tagger, is_chatter
from quilt.stages.common.lexicon import (
    _MAX_SPAN,
    _MIN_SCORE,
    _MIN_SCORE_COMMON,
    HUNSPELL_ENGLISH,
    HUNSPELL_MEDICAL,
    Lexicon,
    load_lexicon,
    phonetic_key,
    read_hunspell_words,
)
from quilt.stages.common.repetition import drop_loops
from quilt.stages.common.screen_vocab import SCREEN_BONUS, ScreenShown, ScreenVocabulary, terms_near

__all__ = ["DENOISER_NAME", "HUNSPELL_ENGLISH", "HUNSPELL_MEDICAL", "Lexicon", "denoise", "is_chatter",
           "load_lexicon", "phonetic_key", "read_hunspell_words"]

DENOISER_NAME = "lexicon-denoiser-v1"

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*$")
_ABBREVIATIONS = {"e.g.", "i.e.", "dr.", "vs.", "approx.", "fig.", "etc.", "mr.", "mrs.", "st."}
_MAX_PAUSE_S = 1.2  # a silence this long ends a sentence even if Whisper forgot the full stop (or the
# window seam lost it): a sentence is never cut later, so one glued across a slide change pairs wrongly
# A shorter silence may still be a lost full stop, or only a breath: it becomes a SoftBreak, which the
# aligner takes as the end of a sentence only where the picture changes. Commas in the generated and bench
# narration left gaps of 0.22-0.24 s between Whisper's words; the pause between two slides' sentences,
# 0.5 s of silence, came out as 0.5-1.0 s (Whisper stretches a last word over part of the silence).
_SOFT_BREAK_S = 0.35


def _words_of(segment: Segment) -> list[Word]:
    """The segment's words; without word timings, spread its text evenly over the segment."""
    if segment.words:
        return [w for w in segment.words if w.text.strip()]
    parts = segment.text.split()
    if not parts:
        return []
    total = sum(len(p) + 1 for p in parts)
    span = segment.end - segment.start
    words, pos = [], 0
    for p in parts:
        start = segment.start + span * pos / total
        pos += len(p) + 1
        words.append(Word(p, start, segment.start + span * pos / total, 1.0))
    words[-1].end = segment.end
    return words


def _without_loops(segment: Segment) -> Segment:
    words = _words_of(segment)
    kept = drop_loops(words)
    if len(kept) == len(words):
        return segment
    return Segment(segment.start, segment.end, " ".join(w.text.strip() for w in kept), kept, segment.cut)


def _ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text)) and text.lower() not in _ABBREVIATIONS


def _unpunctuated_ends(segments: list[Segment]) -> set[int]:
    """Positions (in the flattened word list) of the last word of each segment that has no full stop at all.

    Whisper sometimes drops punctuation for a whole stretch while still cutting its segments where
    the narrator's sentences end; there the segment end is the only sentence boundary left. A
    segment with punctuation keeps its own full stops as the boundaries (its end may be mid-sentence),
    and so does one that a window seam cut short (`Segment.cut`: the sentence goes on in the next window).
    """
    ends: set[int] = set()
    position = 0
    for segment in segments:
        words = _words_of(segment)
        position += len(words)
        if words and not segment.cut and not any(_ends_sentence(w.text.strip()) for w in words):
            ends.add(position - 1)
    return ends


def _split_sentences(words: list[Word], segment_ends: set[int]) -> list[list[Word]]:
    sentences: list[list[Word]] = []
    current: list[Word] = []
    for position, word in enumerate(words):
        if current and word.start - current[-1].end > _MAX_PAUSE_S:
            sentences.append(current)
            current = []
        current.append(word)
        if _ends_sentence(word.text.strip()) or position in segment_ends:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def _core(text: str) -> tuple[str, str, str]:
    """Split a token into leading punctuation, the word and trailing punctuation."""
    m = re.match(r"^(\W*)(.*?)(\W*)$", text.strip())
    assert m is not None
    return m.group(1), m.group(2), m.group(3)


def _closest(span: str, lexicon: Lexicon, screen: ScreenVocabulary | None) -> tuple[str, float] | None:
    """The term list's best match, unless a term seen on the lecture's slides is about as close."""
    match = lexicon.best_match(span)
    seen = screen.match(span) if screen else None
    if seen is not None and (match is None or seen[1] + SCREEN_BONUS >= match[1]):
        return seen[0], seen[1] + SCREEN_BONUS
    return match


def _correct(words: list[Word], lexicon: Lexicon, min_confidence: float,
             screen: ScreenVocabulary | None = None) -> tuple[list[str], dict[str, str], dict[str, float]]:
    """One output token per word ("" for a word a correction fused into the one before), corrections, scores."""
    cores = [_core(w.text) for w in words]
    doubtful = [bool(c[1]) and not lexicon.is_term_word(c[1])
                and (w.probability < min_confidence or not lexicon.is_known(c[1]))
                for w, c in zip(words, cores, strict=True)]
    # A doubted but ordinary English word ("nuclear", "mile") is most likely right: demand more.
    common = [d and lexicon.is_common(c[1]) for d, c in zip(doubtful, cores, strict=True)]
    # Score every span that holds a doubtful word, then take the best ones without overlaps.
    options: list[tuple[float, int, int, str]] = []
    for i in range(len(words)):
        for n in range(1, _MAX_SPAN + 1):
            j = i + n
            if j > len(words) or not any(doubtful[i:j]) or not all(c[1] for c in cores[i:j]):
                continue
            if any(cores[k][2] for k in range(i, j - 1)):
                continue  # punctuation inside the span: the words do not belong together
            match = _closest(" ".join(c[1] for c in cores[i:j]), lexicon, screen)
            only_common = all(c for c, d in zip(common[i:j], doubtful[i:j], strict=True) if d)
            if only_common and n > 1 and all(lexicon.is_known(c[1]) for c in cores[i:j]):
                continue  # fusing real words into a term ("live for" -> "liver") is a guess, not a fix
            needed = _MIN_SCORE_COMMON if only_common else _MIN_SCORE
            if match is not None and match[1] >= needed:
                options.append((match[1], n, i, match[0]))
    options.sort(key=lambda o: (-o[0], -o[1], o[2]))
    out = [w.text.strip() for w in words]
    taken = [False] * len(words)
    corrections: dict[str, str] = {}
    scores: dict[str, float] = {}
    for rank, n, i, term in options:
        if any(taken[i:i + n]):
            continue
        original = " ".join(c[1] for c in cores[i:i + n])
        replacement = term[0].upper() + term[1:] if cores[i][1][:1].isupper() and term.islower() else term
        last = cores[i + n - 1][1].lower()
        if last.endswith("s") and not last.endswith(("ss", "us", "is")) and term[-1:].isalpha() \
                and not term.endswith("s"):
            replacement += "s"  # keep the plural Whisper heard: "lymphosites" -> "lymphocytes"
        out[i] = cores[i][0] + replacement + cores[i + n - 1][2]
        for k in range(i, i + n):
            taken[k] = True
            if k > i:
                out[k] = ""
        corrections[original] = replacement
        scores[original] = round(rank, 3)
    return out, corrections, scores


def _join(tokens: list[str]) -> str:
    """Space-joined, except that bare punctuation tokens stick to the word before them."""
    out: list[str] = []
    for token in tokens:
        # Whisper splits "cell-blind" into "cell" + "-blind": the hyphen part sticks too.
        if out and (not any(ch.isalnum() for ch in token) or (token.startswith("-") and out[-1][-1:].isalnum())):
            out[-1] += token
        else:
            out.append(token)
    return " ".join(out)


def _sticks(token: str) -> bool:
    """Whether `_join` glues this token onto the one before (so no sentence can start with it)."""
    return not any(ch.isalnum() for ch in token) or token.startswith("-")


def _is_medical(text: str, lexicon: Lexicon) -> bool:
    return bool(lexicon.find_terms(text)) and not is_chatter(text)


def soft_breaks(words: list[Word], tokens: list[str], lexicon: Lexicon,
                min_pause_s: float = _SOFT_BREAK_S) -> list[SoftBreak]:
    """The pauses of at least `min_pause_s` between a sentence's words, with the text on either side.

    `tokens` are `_correct`'s, one per word. A pause inside a corrected span (two heard words made
    one term) or before a token that `_join` sticks to the word before is no place to split.
    """
    text = _join([t for t in tokens if t])
    asr = _join([w.text.strip() for w in words])
    out: list[SoftBreak] = []
    for k in range(1, len(words)):
        if words[k].start - words[k - 1].end < min_pause_s or not tokens[k]:
            continue
        if _sticks(tokens[k]) or _sticks(words[k].text.strip()):
            continue
        before, after = _join([t for t in tokens[:k] if t]), _join([t for t in tokens[k:] if t])
        asr_before = _join([w.text.strip() for w in words[:k]])
        if f"{before} {after}" != text or asr[len(asr_before):len(asr_before) + 1] != " ":
            continue  # only a split that gives back the two halves exactly
        out.append(SoftBreak(start=words[k - 1].end, end=words[k].start, text_offset=len(before) + 1,
                             asr_offset=len(asr_before) + 1, medical_before=_is_medical(before, lexicon),
                             medical_after=_is_medical(after, lexicon)))
    return out


# A sentence's screen vocabulary is what the slides showed within this many seconds of it: a narrator
# names what is on screen, just before or after it appears, not what a slide said minutes earlier.
SCREEN_MARGIN_S = 10.0


def denoise(segments: list[Segment], lexicon: Lexicon | None = None,
            min_confidence: float = 0.6, screen: Sequence[ScreenShown] = ()) -> list[Sentence]:
    """Sentences with corrected text, time spans from the words and a medical flag.

    `screen`, the terms the lecture's slides spelled and when (screen_vocab.py), gives each sentence
    preferred targets: a doubted word close to a term shown around it becomes that term even where
    the term list offers another.
    """
    lexicon = lexicon if lexicon is not None else load_lexicon()
    vocabularies: dict[tuple[str, ...], ScreenVocabulary] = {}

    def vocabulary_at(start: float, end: float) -> ScreenVocabulary | None:
        terms = tuple(terms_near(screen, start, end, SCREEN_MARGIN_S)) if screen else ()
        if not terms:
            return None
        return vocabularies.setdefault(terms, ScreenVocabulary(list(terms)))
    # Repetition loops go first, per segment, so a loop neither floods a sentence nor hides its end.
    ordered = [_without_loops(seg) for seg in sorted(segments, key=lambda s: s.start)]
    words = [w for seg in ordered for w in _words_of(seg)]
    sentences: list[Sentence] = []
    for group in _split_sentences(words, _unpunctuated_ends(ordered)):
        asr_text = _join([w.text.strip() for w in group])
        tokens, corrections, scores = _correct(group, lexicon, min_confidence,
                                               vocabulary_at(group[0].start, max(w.end for w in group)))
        text = _join([t for t in tokens if t])
        medical = _is_medical(text, lexicon)
        entities = default_tagger().tag(text) if medical else []
        sentences.append(Sentence(start=group[0].start, end=max(w.end for w in group), text=text,
                                  asr_text=asr_text, medical=medical, corrections=corrections,
                                  correction_scores=scores, entities=entities,
                                  breaks=soft_breaks(group, tokens, lexicon)))
    return sentences
