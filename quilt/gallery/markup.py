"""HTML fragments of the gallery: marked-up text, clock times, scores, chips and tags.

Every string that came from a record goes through `html.escape` here, text and attributes
alike: transcripts, ids and tags are data, and a lecture may well say "<script>".
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable

from quilt.core.records import PairRecord

ENTITY_CATEGORIES = ("tissue", "cell", "finding", "stain", "marker", "diagnosis")
IMPURITY_LABELS = {
    "person": "person",
    "ui_chrome": "UI chrome",
    "text_overlay": "text overlay",
    "arrow_or_pointer": "arrow / pointer",
    "multi_panel": "multi-panel",
}
CLEAN_TAG = "clean"  # the filter value of a pair with no impurity tag
MAG_PREFIX = "mag:"  # "high" alone says nothing in a tag list; "mag:high" does

Span = tuple[int, int, str]  # start, end, what it stands for


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def clock(seconds: float) -> str:
    """mm:ss, or h:mm:ss for long lectures."""
    total = int(seconds) if math.isfinite(seconds) and seconds > 0 else 0
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def unit(value: object) -> float:
    """A score clamped to [0, 1]; anything unreadable counts as 0 rather than breaking the page."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return min(max(number, 0.0), 1.0) if math.isfinite(number) else 0.0


def _occurrences(text: str, phrase: str) -> list[tuple[int, int]]:
    phrase = phrase.strip()
    if not phrase:
        return []
    # Whole words only: "duct" must not light up inside "ductal".
    pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", re.IGNORECASE)
    return [m.span() for m in pattern.finditer(text)]


def claim_spans(text: str, phrases: Iterable[tuple[str, str]]) -> list[Span]:
    """Non-overlapping spans of (phrase, label) pairs in text; longer phrases win a contested stretch."""
    taken: list[Span] = []
    for phrase, label in sorted(phrases, key=lambda p: -len(p[0])):
        for start, end in _occurrences(text, phrase):
            if all(end <= a or start >= b for a, b, _ in taken):
                taken.append((start, end, label))
    return sorted(taken)


def _covering(spans: list[Span], start: int) -> Span | None:
    return next((s for s in spans if s[0] <= start < s[1]), None)


# How a span is wrapped: its label gives the opening tag; the closing tag is fixed.
Wrap = tuple[Callable[[str], str], str]


def _entity_css(category: str) -> str:
    return category if category in ENTITY_CATEGORIES else "other"


FIX: Wrap = (lambda heard: f'<mark class="fix" title="heard: {esc(heard)}">', "</mark>")
ENTITY: Wrap = (lambda cat: f'<span class="ent ent-{_entity_css(cat)}" title="{esc(cat)}">', "</span>")
MISHEARD: Wrap = (lambda written: f'<s class="misheard" title="written: {esc(written)}">', "</s>")


def weave(text: str, outer: list[Span], inner: list[Span], outer_wrap: Wrap, inner_wrap: Wrap) -> str:
    """Escaped text with `outer` spans wrapped by outer_wrap and `inner` ones by inner_wrap.

    Inner spans nest inside outer ones; one that straddles an outer edge is cut in two there,
    so the markup stays well formed whatever the overlap.
    """
    cuts = sorted({0, len(text), *(i for a, b, _ in outer + inner for i in (a, b))})
    out: list[str] = []
    current: Span | None = None
    for start, end in zip(cuts, cuts[1:], strict=False):
        span = _covering(outer, start)
        if span != current:
            out.append(outer_wrap[1] if current is not None else "")
            out.append(outer_wrap[0](span[2]) if span is not None else "")
            current = span
        within = _covering(inner, start)
        chunk = esc(text[start:end])
        out.append(chunk if within is None else f"{inner_wrap[0](within[2])}{chunk}{inner_wrap[1]}")
    out.append(outer_wrap[1] if current is not None else "")
    return "".join(out)


def _corrections(record: PairRecord) -> dict[str, str]:
    # Records come from a bucket anyone's code may write to: a malformed field costs its highlight, not the page.
    return {str(k): str(v) for k, v in record.corrections.items()} if isinstance(record.corrections, dict) else {}


def marked_text(record: PairRecord) -> str:
    """The cleaned text: corrected words in <mark> (title = what was heard), entities underlined by category."""
    written = [(w, h) for h, w in _corrections(record).items()]
    entities = [(str(e.get("text", "")), str(e.get("category", ""))) for e in record.entities if isinstance(e, dict)]
    return weave(record.text, claim_spans(record.text, written), claim_spans(record.text, entities), FIX, ENTITY)


def marked_heard(record: PairRecord) -> str:
    """What Whisper heard, with the words that were corrected struck through."""
    heard = list(_corrections(record).items())
    return weave(record.asr_text, claim_spans(record.asr_text, heard), [], MISHEARD, ENTITY)


def heard_differs(record: PairRecord) -> bool:
    return " ".join(record.asr_text.split()).lower() != " ".join(record.text.split()).lower()


def filter_tags(record: PairRecord) -> list[str]:
    """The values a pair answers to in the tag filter: impurities (or clean), magnification, sub-pathology."""
    tags = [str(t) for t in record.impurity_tags] or [CLEAN_TAG]
    return [*tags, MAG_PREFIX + str(record.magnification or "unknown"), *(str(s) for s in record.sub_pathology)]


def tags_attribute(record: PairRecord) -> str:
    """Filter tags as an escaped JSON list: tags may contain spaces, and JSON.parse never runs code."""
    return esc(json.dumps(filter_tags(record)))


def tag_label(tag: str) -> str:
    if tag.startswith(MAG_PREFIX):
        return f"{tag[len(MAG_PREFIX):]} mag"
    return IMPURITY_LABELS.get(tag, tag)


def score_bar(name: str, value: object, css: str) -> str:
    """A labelled bar: a glance tells a weak score from a strong one."""
    score = unit(value)
    return (f'<span class="score {css}" title="{esc(name)} {score:.2f}" style="--v:{score:.3f}">'
            f'<span class="score-name">{esc(name)}</span><span class="bar"><i></i></span>'
            f'<span class="score-value">{score:.2f}</span></span>')
