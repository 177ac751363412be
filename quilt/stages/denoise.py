"""Turn raw ASR segments into corrected, sentence-level text.

Whisper mishears histology vocabulary in predictable ways: it keeps the sound
and loses the spelling ("hepatoxylin", "myel duct"), or fuses words
("assintaining"). We only touch words Whisper itself doubted (low probability)
or that no dictionary knows, and only replace them with a term from our
histopathology list whose sound and spelling are both close.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from importlib import resources
from pathlib import Path

from quilt.stages.types import Segment, Sentence, Word

DENOISER_NAME = "lexicon-denoiser-v1"

# Read at run time only: the medical list's licence does not let us ship it,
# and the general English list just tells us which words are ordinary.
HUNSPELL_MEDICAL = Path("/usr/share/hunspell/en_med_glut.dic")
HUNSPELL_ENGLISH = Path("/usr/share/hunspell/en_US.dic")

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*$")
_ABBREVIATIONS = {"e.g.", "i.e.", "dr.", "vs.", "approx.", "fig.", "etc.", "mr.", "mrs.", "st."}
_MAX_PAUSE_S = 3.0  # a long silence ends a sentence even if Whisper forgot the full stop
_CHATTER = re.compile(
    r"\b(like and subscribe|subscribe|welcome back|see you (next time|in the next)"
    r"|thanks? (you )?for watching|hit the bell|notification|patreon|sponsor(ed)?"
    r"|link in the description|comment below|my channel)\b",
    re.IGNORECASE,
)

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
    return [_singular(t) for t in re.findall(r"[a-z0-9]+", text.lower())]


def _singular(word: str) -> str:
    """Crude plural folding so "neutrophils" finds "neutrophil"; applied to both sides."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("es") and word[-3] in "sxh":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _inflected(a: str, b: str) -> bool:
    """The same word up to a short ending: "stained"/"stain", "tissues"/"tissue"."""
    short, long = sorted((a, b), key=len)
    return a == b or (len(short) >= 3 and long.startswith(short) and len(long) - len(short) <= 3)


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
           min_spelling: float) -> float | None:
    """Blend of spelling and sound similarity, or None below the thresholds (cheap bounds first)."""
    key_sm.set_seq1(t_key)
    if 0.4 + 0.6 * key_sm.real_quick_ratio() < _MIN_SCORE:
        return None
    spell_sm.set_seq1(t_letters)
    if spell_sm.real_quick_ratio() < min_spelling or spell_sm.quick_ratio() < min_spelling:
        return None
    spelling = spell_sm.ratio()
    if spelling < min_spelling:
        return None
    score = 0.4 * spelling + 0.6 * key_sm.ratio()
    return score if score >= _MIN_SCORE else None


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
        for term in self.terms:
            toks = tuple(_tokens(term))
            if toks:
                self._term_tokens.setdefault(toks[0], []).append(toks)
                self._term_words.update(re.findall(r"[a-z0-9]+", term.lower()))
        # Short acronyms make poor targets: "PAS" would swallow any doubted "pass".
        self._targets: dict[str, list[tuple[str, str, str, list[str]]]] = {}
        for term in self.terms:
            t_letters, t_key = _letters(term), phonetic_key(term)
            if len(t_letters) >= 5 and t_key:
                entry = (term, t_letters, t_key, re.findall(r"[a-z0-9]+", term.lower()))
                self._targets.setdefault(t_key[0], []).append(entry)
        self._by_key: dict[str, list[str]] = {}
        for word in self.medical_words:
            if word.islower() and len(word) >= 6:  # brand names and short words stay out
                self._by_key.setdefault(phonetic_key(word), []).append(word)
        self._cache: dict[str, tuple[str, float] | None] = {}

    def is_term_word(self, word: str) -> bool:
        """A word of some histopathology term: right by definition, never corrected."""
        w = word.lower()
        return w in self._term_words or _singular(w) in self._term_words

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

    def best_match(self, span: str) -> tuple[str, float] | None:
        """The closest term to a (possibly misheard) span, or None when nothing is close enough."""
        if span not in self._cache:  # lectures repeat their mistakes; matching is the slow part
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()  # a long-running service must not grow without bound
            self._cache[span] = self._best_match(span)
        return self._cache[span]

    def _best_match(self, span: str) -> tuple[str, float] | None:
        letters, key = _letters(span), phonetic_key(span)
        if len(letters) < _MIN_LETTERS or not key:
            return None
        words = re.findall(r"[a-z0-9]+", span.lower())
        # The span is the indexed side (seq2) of both matchers, so it is indexed once, not per term.
        spell_sm = SequenceMatcher(None, "", letters, autojunk=False)
        key_sm = SequenceMatcher(None, "", key, autojunk=False)
        best: tuple[str, float] | None = None
        # Like Soundex, trust the first sound: it blocks out most terms cheaply.
        for term, t_letters, t_key, t_words in self._targets.get(key[0], []):
            if abs(len(t_letters) - len(letters)) > max(2, 0.35 * len(t_letters)):
                continue
            if _same_words(words, t_words):
                continue
            score = _score(spell_sm, key_sm, t_letters, t_key, _MIN_SPELLING)
            if score is not None and (best is None or score > best[1]):
                best = (term, score)
        if best is None and len(words) == 1 and not self.is_known(words[0]):
            # Fall back on the wider medical list, but only for unknown words with near-identical spellings.
            for word in self._by_key.get(key, []):
                if _same_words(words, [word]):
                    continue
                score = _score(spell_sm, key_sm, word, key, _MIN_SPELLING_MEDICAL_WORD)
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


def is_chatter(text: str) -> bool:
    return bool(_CHATTER.search(text))


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


def _split_sentences(words: list[Word]) -> list[list[Word]]:
    sentences: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current and word.start - current[-1].end > _MAX_PAUSE_S:
            sentences.append(current)
            current = []
        current.append(word)
        text = word.text.strip()
        if _SENTENCE_END.search(text) and text.lower() not in _ABBREVIATIONS:
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


def _correct(words: list[Word], lexicon: Lexicon, min_confidence: float) -> tuple[list[str], dict[str, str]]:
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
            match = lexicon.best_match(" ".join(c[1] for c in cores[i:j]))
            only_common = all(c for c, d in zip(common[i:j], doubtful[i:j], strict=True) if d)
            needed = _MIN_SCORE_COMMON if only_common else _MIN_SCORE
            if match is not None and match[1] >= needed:
                options.append((match[1], n, i, match[0]))
    options.sort(key=lambda o: (-o[0], -o[1], o[2]))
    out = [w.text.strip() for w in words]
    taken = [False] * len(words)
    corrections: dict[str, str] = {}
    for _rank, n, i, term in options:
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
    return [t for t in out if t], corrections


def _join(tokens: list[str]) -> str:
    """Space-joined, except that bare punctuation tokens stick to the word before them."""
    out: list[str] = []
    for token in tokens:
        if out and not any(ch.isalnum() for ch in token):
            out[-1] += token
        else:
            out.append(token)
    return " ".join(out)


def denoise(segments: list[Segment], lexicon: Lexicon | None = None,
            min_confidence: float = 0.6) -> list[Sentence]:
    """Sentences with corrected text, time spans from the words and a medical flag."""
    lexicon = lexicon if lexicon is not None else load_lexicon()
    words = [w for seg in sorted(segments, key=lambda s: s.start) for w in _words_of(seg)]
    sentences: list[Sentence] = []
    for group in _split_sentences(words):
        asr_text = _join([w.text.strip() for w in group])
        tokens, corrections = _correct(group, lexicon, min_confidence)
        text = _join(tokens)
        medical = bool(lexicon.find_terms(text)) and not is_chatter(text)
        sentences.append(Sentence(start=group[0].start, end=max(w.end for w in group), text=text,
                                  asr_text=asr_text, medical=medical, corrections=corrections))
    return sentences
