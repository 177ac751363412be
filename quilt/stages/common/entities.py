"""Medical sentence extraction: which sentences describe what is seen, and which terms they name.

A sentence is kept when it names a histopathology term and is neither chatter ("like and
subscribe") nor lecture logistics ("in the next video", "let's take a break"): an image-text
pair built from logistics would teach a model nothing about the picture, even when the
sentence happens to mention an organ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from quilt.stages.common.words import singular

CATEGORIES = ("tissue", "cell", "finding", "stain", "marker", "diagnosis")
_CATEGORY_LINE = re.compile(r"^#@category\s+(\w+)\s*$")

# Chatter: talk to the audience. Logistics: about the lecture itself, not the slide.
_CHATTER = re.compile(
    r"\b(like and subscribe|subscribe|welcome back|welcome to (the|my|this) channel|see you (next time|in the next"
    r"|on \w+|soon|later)|thanks? (you )?(so much )?for (watching|listening|joining)|hit the bell|notifications?"
    r"|patreon|sponsor(ed)?|comment below|my channel|leave a comment|share this video)\b",
    re.IGNORECASE,
)
_LOGISTICS = re.compile(
    r"\b(in the (next|last|previous) (video|lecture|session|class)|(link|links) (is |are )?in the description"
    r"|in the description( below)?|take an? (short |quick )?(\w+[- ]minute )?break|coffee break"
    r"|(can|could) (everyone|you( all)?) (hear|see) me|microphones?|my (internet|connection|camera)"
    r"|assignment|homework|exam|quiz|due (on|by|next)|office hours|download the slides|slides are (available|online)"
    r"|questions? (at|for) the end|let me share my screen|recording|let's get started)\b",
    re.IGNORECASE,
)


def is_chatter(text: str) -> bool:
    """Chatter or logistics: talk that describes no image."""
    return bool(_CHATTER.search(text) or _LOGISTICS.search(text))


def _key(term: str) -> tuple[str, ...]:
    return tuple(singular(w) for w in re.findall(r"[a-z0-9]+", term.lower()))


def parse_categories(lines: Iterable[str]) -> dict[str, str]:
    """Term -> category from a term list with `#@category NAME` headers; terms before any header get none."""
    out: dict[str, str] = {}
    category = ""
    for raw in lines:
        line = raw.strip()
        m = _CATEGORY_LINE.match(line)
        if m:
            if m.group(1) not in CATEGORIES:
                raise ValueError(f"unknown term category {m.group(1)!r}; expected one of {CATEGORIES}")
            category = m.group(1)
        elif line and not line.startswith("#") and category:
            out.setdefault(line, category)
    return out


@lru_cache(maxsize=1)
def shipped_categories() -> dict[str, str]:
    text = resources.files("quilt.data").joinpath("histo_terms.txt").read_text(encoding="utf-8")
    return parse_categories(text.splitlines())


class EntityTagger:
    """Longest-match tagging of categorised terms in running text."""

    def __init__(self, categories: dict[str, str]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for term, category in categories.items():
            key = _key(term)
            if key:
                self._by_first.setdefault(key[0], []).append((key, category))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))  # longest first: "squamous cell carcinoma" over "squamous"

    def tag(self, text: str) -> list[tuple[str, str]]:
        """(surface text, category) of each term in the text, left to right, without overlaps."""
        spans = [(m.start(), m.end(), singular(m.group().lower())) for m in re.finditer(r"[A-Za-z0-9]+", text)]
        words = [s[2] for s in spans]
        found: list[tuple[str, str]] = []
        i = 0
        while i < len(words):
            for key, category in self._by_first.get(words[i], []):
                if tuple(words[i:i + len(key)]) == key:
                    found.append((text[spans[i][0]:spans[i + len(key) - 1][1]], category))
                    i += len(key)
                    break
            else:
                i += 1
        return found


@lru_cache(maxsize=1)
def default_tagger() -> EntityTagger:
    return EntityTagger(shipped_categories())


def keep_sentence(text: str, tagger: EntityTagger | None = None) -> bool:
    """A sentence worth pairing with an image: it names a categorised term and is not chatter."""
    return bool((tagger or default_tagger()).tag(text)) and not is_chatter(text)
