"""The histopathology lexicon behind the denoiser: term list, known-word lists and fuzzy matching.

Split out of denoise.py, which keeps the sentence logic; `quilt.stages.common.corrector` re-exports
the public names so existing imports keep working.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from importlib import resources
from pathlib import Path

from quilt.stages.common.words import singular

# Read at run time only: the medical list's licence does not let us ship it,
# and the general English list just tells us which words are ordinary.
HUNSPELL_MEDICAL = Path("/usr/share/hunspell/en_med_glut.dic")
HUNSPELL_ENGLISH = Path("/usr/share/hunspell/en_US.dic")

# Matching thresholds, tuned on the known ASR errors: the sound key must agree
# closely, the spelling moderately (ASR keeps the sound, not the letters).
_MIN_SCORE = 0.78
_MIN_SCORE_COMMON = 0.9
_MIN_SPELLING = 0.6
_MIN_SPELLING_MEDICAL_WORD = 0.85  # stricter for the big medical list: it holds many odd words
_MIN_LETTERS = 4
_MAX_SPAN = 3
_CACHE_LIMIT = 100_000


def phonetic_key(text: str) -> str:
    """A consonant skeleton grouped by how ASR confuses sounds.

    Vowels are dropped and labials (b, p, m) share a code because Whisper
    swaps them freely ("hepatoxylin" for hematoxylin, "myel" for bile).
    """
    s = re.sub(r"[^a-z0-9]", "", text.lower())
    out: list[str] = []
    i = 0
    while i < len(s):
        ch, nxt = s[i], s[i + 1] if i + 1 < len(s) else ""
        code = ""
        if ch.isdigit():
            code = ch
        elif ch == "p" and nxt == "h":
            code, i = "F", i + 1
        elif ch == "c" and nxt == "h":
            code, i = "K", i + 1  # medical Greek: chromatin, chondro-
        elif ch == "c":
            code = "S" if nxt in "eiy" and nxt else "K"
        elif ch == "g":
            code = "J" if nxt in "eiy" and nxt else "K"
        elif ch == "x":
            code = "S" if i == 0 else "KS"
        else:
            code = _CODES.get(ch, "")
        for c in code:
            if not out or out[-1] != c:
                out.append(c)
        i += 1
    return "".join(out)


_CODES = {
    **dict.fromkeys("bpm", "P"), **dict.fromkeys("fv", "F"), **dict.fromkeys("td", "T"),
    **dict.fromkeys("kq", "K"), **dict.fromkeys("sz", "S"), "j": "J", "l": "L", "r": "R", "n": "N",
}


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _tokens(text: str) -> list[str]:
    return [singular(t) for t in re.findall(r"[a-z0-9]+", text.lower())]


def _inflected(a: str, b: str) -> bool:
    """The same word up to a short ending: "stained"/"stain", "tissues"/"tissue"."""
    short, long = sorted((a, b), key=len)
    # Only real endings: "neutrophilin" is a mishearing of neutrophil, not an inflection of it.
    return a == b or (len(short) >= 3 and long.startswith(short) and long[len(short):] in _ENDINGS)


_ENDINGS = {"s", "es", "ed", "d", "ing", "al", "ic", "ly", "y", "e", "er", "ers", "ous", "ity", "ism", "ation",
            "ations", "ate", "ated", "ics", "ical", "ial", "ia", "ies", "i", "ae", "a"}


def _same_words(span_words: list[str], term_words: list[str]) -> bool:
    """True when replacing the span with the term would only change inflections, not words."""
    if len(span_words) == 1:
        return any(_inflected(span_words[0], t) for t in term_words)
    if len(span_words) == len(term_words):
        return all(_inflected(a, b) for a, b in zip(span_words, term_words, strict=True))
    return "".join(span_words) == "".join(term_words)


def read_hunspell_words(path: Path) -> list[str]:
    """Words of a hunspell .dic file, affix flags after '/' dropped."""
    words: list[str] = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for n, line in enumerate(lines):
        if not line.strip() or line[0].isspace() or (n == 0 and line.strip().isdigit()):
            continue  # the count line and the indented licence header
        word = line.split()[0].split("/")[0]
        if word:
            words.append(word)
    return words


_SUFFIXES = (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
             ("ly", ""), ("er", ""), ("'s", ""))


def _in_list(word: str, words: set[str]) -> bool:
    """Membership that folds common endings: hunspell lists stems and we do not expand its affixes."""
    if word in words:
        return True
    return any(word.endswith(suffix) and len(word) - len(suffix) >= 2 and word[: -len(suffix)] + repl in words
               for suffix, repl in _SUFFIXES)


def _score(spell_sm: SequenceMatcher[str], key_sm: SequenceMatcher[str], t_letters: str, t_key: str,
           min_spelling: float, min_score: float = _MIN_SCORE) -> float | None:
    """Blend of spelling and sound similarity, or None below the thresholds (cheap bounds first)."""
    key_sm.set_seq1(t_key)
    if 0.4 + 0.6 * key_sm.real_quick_ratio() < min_score:
        return None
    spell_sm.set_seq1(t_letters)
    if spell_sm.real_quick_ratio() < min_spelling or spell_sm.quick_ratio() < min_spelling:
        return None
    spelling = spell_sm.ratio()
    if spelling < min_spelling:
        return None
    score = 0.4 * spelling + 0.6 * key_sm.ratio()
    return score if score >= min_score else None


# A correction target, indexed once: (term, its letters, its sound key, its words).
Target = tuple[str, str, str, list[str]]


def as_target(term: str) -> Target | None:
    """The term as a correction target, or None: short acronyms make poor targets ("PAS" would swallow
    any doubted "pass")."""
    t_letters, t_key = _letters(term), phonetic_key(term)
    if len(t_letters) < 5 or not t_key:
        return None
    return term, t_letters, t_key, re.findall(r"[a-z0-9]+", term.lower())


@dataclass
class HeardSpan:
    """A heard span, indexed once for matching against many targets."""

    letters: str
    key: str
    words: list[str]
    spell_sm: SequenceMatcher[str]
    key_sm: SequenceMatcher[str]

    @classmethod
    def of(cls, span: str) -> HeardSpan | None:
        """None for a span too short to match anything."""
        letters, key = _letters(span), phonetic_key(span)
        if len(letters) < _MIN_LETTERS or not key:
            return None
        # The span is the indexed side (seq2) of both matchers, so it is indexed once, not per target.
        return cls(letters, key, re.findall(r"[a-z0-9]+", span.lower()),
                   SequenceMatcher(None, "", letters, autojunk=False), SequenceMatcher(None, "", key, autojunk=False))

    def closest(self, targets: Iterable[Target], min_score: float = _MIN_SCORE) -> tuple[str, float] | None:
        """The best-scoring target of a close length that would change more than an inflection."""
        best: tuple[str, float] | None = None
        for term, t_letters, t_key, t_words in targets:
            if abs(len(t_letters) - len(self.letters)) > max(2, 0.35 * len(t_letters)):
                continue
            if _same_words(self.words, t_words):
                continue
            score = _score(self.spell_sm, self.key_sm, t_letters, t_key, _MIN_SPELLING, min_score)
            if score is not None and (best is None or score > best[1]):
                best = (term, score)
        return best


@dataclass
class Lexicon:
    """Histopathology terms (correction targets, the medical test) plus lists of known words.

    `vocabulary` holds ordinary English words, `medical_words` the wider medical
    word list; both only decide which words are suspicious, never what counts
    as medical.
    """

    # repr=False: these hold ~150k words, which would flood any error message
    terms: list[str] = field(repr=False)
    vocabulary: set[str] = field(default_factory=set, repr=False)
    medical_words: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.terms = [t.strip() for t in self.terms if t.strip()]
        self.vocabulary = {w.lower() for w in self.vocabulary}
        self._medical = {w.lower() for w in self.medical_words}
        self._term_words: set[str] = set()
        self._term_tokens: dict[str, list[tuple[str, ...]]] = {}
        self._term_spelling: dict[tuple[str, ...], str] = {}
        for term in self.terms:
            toks = tuple(_tokens(term))
            if toks:
                self._term_tokens.setdefault(toks[0], []).append(toks)
                self._term_spelling.setdefault(toks, term)
                self._term_words.update(re.findall(r"[a-z0-9]+", term.lower()))
        self._targets: dict[str, list[Target]] = {}
        for term in self.terms:
            entry = as_target(term)
            if entry is not None:
                self._targets.setdefault(entry[2][0], []).append(entry)
        self._by_key: dict[str, list[str]] = {}
        for word in self.medical_words:
            if word.islower() and len(word) >= 6:  # brand names and short words stay out
                self._by_key.setdefault(phonetic_key(word), []).append(word)
        self._cache: dict[str, tuple[str, float] | None] = {}

    def is_term_word(self, word: str) -> bool:
        """A word of some histopathology term: right by definition, never corrected."""
        w = word.lower()
        return w in self._term_words or singular(w) in self._term_words

    def is_common(self, word: str) -> bool:
        """An ordinary English word: corrected only on a very close match."""
        return _in_list(word.lower(), self.vocabulary)

    def is_known(self, word: str) -> bool:
        w = word.lower()
        return self.is_term_word(w) or _in_list(w, self.vocabulary) or _in_list(w, self._medical)

    def find_terms(self, text: str) -> list[str]:
        """Histopathology terms that occur in the text, as matched token sequences."""
        toks = _tokens(text)
        found: list[str] = []
        for i, tok in enumerate(toks):
            for term in self._term_tokens.get(tok, []):
                if tuple(toks[i:i + len(term)]) == term:
                    found.append(" ".join(term))
        return found

    def terms_in(self, text: str) -> list[str]:
        """The histopathology terms that occur in the text, spelled as in the term list, each once, in order."""
        return list(dict.fromkeys(self._term_spelling[tuple(found.split())] for found in self.find_terms(text)))

    def is_medical_word(self, word: str) -> bool:
        """In the wider medical word list and not ordinary English ("psammoma", not "body")."""
        w = word.lower()
        return w in self._medical and not self.is_common(w)

    def best_match(self, span: str) -> tuple[str, float] | None:
        """The closest term to a (possibly misheard) span, or None when nothing is close enough."""
        if span not in self._cache:  # lectures repeat their mistakes; matching is the slow part
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()  # a long-running service must not grow without bound
            self._cache[span] = self._best_match(span)
        return self._cache[span]

    def _best_match(self, span: str) -> tuple[str, float] | None:
        heard = HeardSpan.of(span)
        if heard is None:
            return None
        key, words = heard.key, heard.words
        # Like Soundex, trust the first sound: it blocks out most terms cheaply.
        best = heard.closest(self._targets.get(key[0], []))
        if best is None and len(words) == 1 and not self.is_known(words[0]):
            # Fall back on the wider medical list, but only for unknown words with near-identical spellings.
            for word in self._by_key.get(key, []):
                if _same_words(words, [word]):
                    continue
                score = _score(heard.spell_sm, heard.key_sm, word, key, _MIN_SPELLING_MEDICAL_WORD)
                if score is not None and (best is None or score - 0.05 > best[1]):
                    best = (word, score - 0.05)  # a curated term wins a near tie
        return best

    @classmethod
    def load(cls, terms_path: Path | None = None, dictionaries: Iterable[Path] = (HUNSPELL_ENGLISH,),
             medical_dictionary: Path | None = HUNSPELL_MEDICAL) -> Lexicon:
        if terms_path is None:
            text = resources.files("quilt.data").joinpath("histo_terms.txt").read_text(encoding="utf-8")
        else:
            text = Path(terms_path).read_text(encoding="utf-8")
        terms = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        vocabulary: set[str] = set()
        for path in dictionaries:
            if path.is_file():
                vocabulary.update(read_hunspell_words(path))
        medical: list[str] = []
        if medical_dictionary is not None and medical_dictionary.is_file():
            medical = read_hunspell_words(medical_dictionary)
        return cls(terms=terms, vocabulary=vocabulary, medical_words=medical)


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    return Lexicon.load()
