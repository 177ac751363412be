"""Pair each kept image with what the narrator said about it.

Speech and picture drift apart in two ways. Per sentence, a little: a padded window
(Quilt's pair_chunk_time) lets a sentence that starts just before the slide, or runs on
just after it, still count. Per video, systematically: some narrators announce the next
slide before clicking, others talk on while it loads. That lag is estimated once per video
from where sentences start relative to the picture changes, and every window is shifted by
it before sentences are assigned.

Sentences are never cut: a half sentence is worse training text than a whole one that runs
a second past the image. Each sentence goes to at most one image, so the same words are not
repeated across pairs. Every picture that was on screen competes for the sentences, not only
the kept ones: a medical sentence said over an outline slide, a photo or an image another
video already gave belongs to that picture, and is dropped with it rather than glued onto the
neighbouring histology slide through the padding. A long stretch with no stable picture at all
(a camera on the presenter, a pan) competes the same way, as an empty picture.

An image another video showed first (the same stock micrograph in two lectures) is paired under
that video's image_id: its new words are new information, but words another video already paired
with it (a re-uploaded lecture) are dropped (`earlier_texts`).

The one exception is a pause inside a sentence that a picture change falls in: there Whisper
left out a full stop, and the sentence is ended at the pause (quilt/stages/align/break_at_changes.py).

An image with a lot of speech gets several pairs (one image, several texts, as in Quilt), each
short enough for a CLIP text encoder.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from quilt.core.ids import pair_id, region_pair_id
from quilt.core.records import PairRecord
from quilt.core.types import ScoredChunk, Sentence
from quilt.stages.align.break_at_changes import split_at_changes
from quilt.stages.align.pair_dedup import dedup_pairs, drop_known_texts
from quilt.stages.align.pathology import sub_pathologies

ALIGNER_NAME = "lag-aligner-v2"

# A zero-length sentence still carries weight in the score average.
_MIN_WEIGHT_S = 0.1
# Lag search: candidate lags every 50 ms; an onset within about 0.25 s of a candidate supports it.
_LAG_STEP_S = 0.05
_LAG_KERNEL_S = 0.25
_LAG_FALSE_ALARM = 0.01  # how often speech unrelated to the slides may still yield a lag


@dataclass(frozen=True)
class AlignParams:
    pad_s: float = 1.0  # a sentence touching the (lag-shifted) window padded by this is a candidate
    max_lag_s: float = 2.0  # the per-video lag estimate is limited to +-this; 0 turns the lag model off
    falloff_s: float = 1.0  # speech this far outside the window counts 1/e as much as speech inside
    max_words: int = 60  # split an image's text into pairs of at most this many words (whole sentences)
    min_lag_evidence: int = 3  # picture changes with a nearby sentence start needed to trust a lag
    dedup_max_hamming: int = 6  # pair dedup: images this close in perceptual hash are the same picture
    dedup_min_jaccard: float = 0.8  # pair dedup: texts this similar (word pairs) say the same thing
    # A stretch at least this long with no chunk competes for sentences as an empty picture: the decoder's
    # shortest stable chunk (DecodeParams.min_duration_s), so such a gap held a moving picture (presenter
    # camera, pan, zoom), not a still it missed; shorter gaps are transitions (cuts, fades). 0 turns it off.
    min_gap_s: float = 3.0
    # A sentence is ended at an unpunctuated pause (SoftBreak) that a picture change, lag-shifted, falls within
    # this many seconds of; negative: never. Both sides must keep min_break_words words. Whisper's word times
    # are loose by about 0.3 s, and the decoder reports a change up to one sampling step (0.5 s) late: on the
    # tuning lectures a change at 30.6 s came out at 31.0 s, 0.57 s (with the lag) past the pause before it.
    break_tolerance_s: float = 0.6
    min_break_words: int = 2


@dataclass
class Alignment:
    pairs: list[PairRecord]
    lag_s: float  # sentence onset minus picture change, typically; negative = the narrator speaks ahead
    duplicates: int  # pairs dropped as near-duplicates of a better pair
    unpaired: int = 0  # medical sentences said over a picture that gives no pair (rejected or another video's)
    sentences: list[Sentence] = field(default_factory=list)  # as aligned: after the cuts at picture changes
    cut: int = 0  # sentences ended at a pause the picture changed in


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return min(a_end, b_end) - max(a_start, b_start)


def _touches(sentence: Sentence, start: float, end: float) -> bool:
    """Positive overlap; a zero-length sentence counts when it lies inside the window."""
    if sentence.end <= sentence.start:
        return start <= sentence.start <= end
    return _overlap(sentence.start, sentence.end, start, end) > 0


def _onsets_near(onsets: list[float], t: float, radius: float) -> list[float]:
    return onsets[bisect.bisect_left(onsets, t - radius):bisect.bisect_right(onsets, t + radius)]


def estimate_lag(chunks: list[ScoredChunk], sentences: list[Sentence], max_lag_s: float,
                 min_evidence: int = 3) -> float:
    """The narrator's lag: how long after (+) or before (-) a picture change the talk about it starts.

    A lecture's sentences start every few seconds, so the onset nearest a change says little on
    its own; but the topic switch happens at the same offset from every change, while the other
    onsets fall anywhere. So each candidate lag in [-max_lag_s, max_lag_s] is scored by how many
    changes have a sentence starting at about that offset, and the best supported one is refined
    to the median of those offsets. A lag is used only when at least `min_evidence` changes agree
    on it, and clearly more than chance would line up (`_chance_agreement`); otherwise it is 0.

    Every chunk interval's start is a change except the earliest (the first picture replaces
    nothing); rejected chunks count too, since a title slide appearing is still a click the
    narrator reacts to.
    """
    if max_lag_s <= 0:
        return 0.0
    changes = sorted({c.t_start for c in chunks})[1:]
    onsets = sorted(s.start for s in sentences if s.text.strip())
    nearby = [[o - c for o in _onsets_near(onsets, c, max_lag_s)] for c in changes]
    nearby = [offsets for offsets in nearby if offsets]
    if len(nearby) < min_evidence:
        return 0.0
    steps = int(round(max_lag_s / _LAG_STEP_S))
    best_support, best_lag = -1.0, 0.0
    for lag in sorted((k * _LAG_STEP_S for k in range(-steps, steps + 1)), key=abs):  # ties keep the smaller lag
        support = sum(max(math.exp(-0.5 * ((o - lag) / _LAG_KERNEL_S) ** 2) for o in offsets) for offsets in nearby)
        if support > best_support + 1e-9:
            best_support, best_lag = support, lag
    agreeing = [min(offsets, key=lambda o: abs(o - best_lag)) for offsets in nearby]
    agreeing = [o for o in agreeing if abs(o - best_lag) <= _LAG_KERNEL_S]
    if len(agreeing) < max(min_evidence, _chance_agreement(onsets, len(nearby), max_lag_s)):
        return 0.0
    return max(-max_lag_s, min(max_lag_s, statistics.median(agreeing)))


def _chance_agreement(onsets: list[float], changes: int, max_lag_s: float) -> int:
    """Fewest agreeing changes that chance alone would give, searching all lags, less than 1% of the time.

    If onsets fell anywhere, at rate r per second, an onset lies within the kernel of a given
    offset with probability p = 1 - exp(-2 r kernel) per change: binomial. Searching lags in
    [-max_lag_s, max_lag_s] tries about max_lag_s / kernel independent offsets, hence the
    factor on the tail (Bonferroni).
    """
    span = onsets[-1] - onsets[0] if onsets else 0.0
    if len(onsets) < 2 or span <= 0:
        return changes
    p = min(1.0 - 1e-12, max(1e-12, 1.0 - math.exp(-2.0 * _LAG_KERNEL_S * (len(onsets) - 1) / span)))
    tries = max(1.0, max_lag_s / _LAG_KERNEL_S)
    tail = 0.0
    for k in range(changes, -1, -1):  # tail = P(X >= k), growing as k falls; logs keep long videos finite
        log_pmf = (math.lgamma(changes + 1) - math.lgamma(k + 1) - math.lgamma(changes - k + 1)
                   + k * math.log(p) + (changes - k) * math.log1p(-p))
        tail += math.exp(log_pmf)
        if tail * tries > _LAG_FALSE_ALARM:
            return k + 1
    return 0


def _outside_weight(d_near: float, d_far: float, falloff_s: float) -> float:
    """Integral of exp(-d / falloff) for d from d_near to d_far: speech outside the window, discounted."""
    if falloff_s <= 0:
        return 0.0
    return falloff_s * (math.exp(-d_near / falloff_s) - math.exp(-d_far / falloff_s))


def sentence_score(sentence: Sentence, lo: float, hi: float, falloff_s: float = 1.0) -> float:
    """How surely a sentence is about the picture shown over [lo, hi] (already lag-shifted), in [0, 1].

    1 when it lies wholly inside; speech outside counts less the further out it is, so a
    sentence that begins just before the change scores a little below 1, one a few seconds
    away near 0.
    """
    a, b = sentence.start, sentence.end
    if b <= a:
        distance = max(lo - a, a - hi, 0.0)
        return math.exp(-distance / falloff_s) if falloff_s > 0 else float(distance == 0)
    inside = max(0.0, _overlap(a, b, lo, hi))
    weight = inside
    if a < lo:
        weight += _outside_weight(lo - min(b, lo), lo - a, falloff_s)
    if b > hi:
        weight += _outside_weight(max(a, hi) - hi, b - hi, falloff_s)
    return max(0.0, min(1.0, weight / (b - a)))


def assign_sentences(chunks: list[ScoredChunk], sentences: list[Sentence], pad_s: float = 1.0, lag_s: float = 0.0,
                     falloff_s: float = 1.0) -> dict[int, list[tuple[Sentence, float]]]:
    """Medical sentences with their scores per chunk index (chunks as given, in time order).

    A candidate is a chunk whose window, shifted by `lag_s` and padded by `pad_s`, the
    sentence touches; the sentence goes to the candidate it scores highest with, a tie to
    the earlier chunk.
    """
    assigned: dict[int, list[tuple[Sentence, float]]] = {}
    for sentence in sorted(sentences, key=lambda s: (s.start, s.end, s.text)):
        if not sentence.medical or not sentence.text.strip():
            continue
        best_score, best_index = -1.0, -1
        for index, chunk in enumerate(chunks):
            lo, hi = chunk.t_start + lag_s, chunk.t_end + lag_s
            if not _touches(sentence, lo - pad_s, hi + pad_s):
                continue
            score = sentence_score(sentence, lo, hi, falloff_s)
            if score > best_score:  # strict: an equal score keeps the earlier chunk
                best_score, best_index = score, index
        if best_index >= 0:
            assigned.setdefault(best_index, []).append((sentence, best_score))
    return assigned


def _words(sentence: Sentence) -> int:
    return len(sentence.text.split())


def _greedy(counts: list[int], capacity: int) -> list[int]:
    """Start indexes of the parts when filling each part up to `capacity` words."""
    starts, used = [0], 0
    for i, count in enumerate(counts):
        if used and used + count > capacity:
            starts.append(i)
            used = 0
        used += count
    return starts


def split_by_words(counts: list[int], max_words: int) -> list[tuple[int, int]]:
    """[start, end) index ranges of consecutive sentences, each part at most `max_words` words.

    A sentence longer than the limit stands alone (sentences are never cut). The parts are as
    few as greedy filling needs, then balanced: the smallest capacity giving that many parts,
    so 70 words become 35 + 35, not 60 + 10.
    """
    if not counts:
        return []
    ceiling = max(max_words, max(counts))
    parts = len(_greedy(counts, ceiling))
    capacity = max(max(counts), math.ceil(sum(counts) / parts))
    while len(_greedy(counts, capacity)) > parts:
        capacity += 1
    starts = _greedy(counts, capacity)
    return list(zip(starts, [*starts[1:], len(counts)], strict=True))


def _entities(sentences: list[Sentence]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for sentence in sentences:
        for text, category in sentence.entities:
            key = (text.lower(), category)
            if key not in seen:
                seen.add(key)
                out.append({"text": text, "category": category})
    return out


def _corrections(sentences: list[Sentence]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for sentence in sentences:
        for heard, written in sentence.corrections.items():
            merged.setdefault(heard, written)  # the first occurrence wins; later ones say the same
    return merged


def _pair(video_id: str, source: str, chunk: ScoredChunk, part: list[tuple[Sentence, float]],
          models: dict[str, str], created_at: str) -> PairRecord:
    sentences = [s for s, _ in part]
    text = " ".join(s.text.strip() for s in sentences).strip()
    weights = [max(s.end - s.start, _MIN_WEIGHT_S) for s in sentences]
    score = sum(w * sc for w, (_, sc) in zip(weights, part, strict=True)) / sum(weights)
    entities = _entities(sentences)
    return PairRecord(
        pair_id=pair_id(video_id, chunk.t_start, chunk.t_end, text),
        video_id=video_id,
        source=source,
        image=chunk.image_ref,
        t_start=chunk.t_start,
        t_end=chunk.t_end,
        text=text,
        asr_text=" ".join(s.asr_text.strip() for s in sentences).strip(),
        histo_score=chunk.histo_score,
        models=dict(models),
        created_at=created_at,
        image_id=image_id_of(chunk),
        align_score=round(score, 4),
        corrections=_corrections(sentences),
        entities=entities,
        impurity_tags=list(chunk.impurity_tags),
        crop=list(chunk.crop),
        magnification=chunk.magnification or "unknown",
        sub_pathology=sub_pathologies(text, [(e["text"], e["category"]) for e in entities]),
        screen_text=chunk.screen_text,
    )


def unshown_spans(chunks: list[ScoredChunk], sentences: list[Sentence], min_gap_s: float) -> list[ScoredChunk]:
    """Empty pictures for the stretches of at least `min_gap_s` that no chunk covers, up to the last sentence.

    The decoder gives no chunk where the picture keeps moving (a presenter camera, a pan), so
    without these a sentence said there would touch a neighbouring slide's padding and be glued
    onto it.
    """
    if min_gap_s <= 0 or not chunks:
        return []
    spans = sorted((c.t_start, c.t_end) for c in chunks)
    talk_end = max((s.end for s in sentences), default=0.0)
    gaps, covered = [], 0.0
    for start, end in [*spans, (talk_end, math.inf)]:  # the sentinel closes a gap after the last chunk
        if start - covered >= min_gap_s:
            gaps.append(ScoredChunk(chunk_id=f"unshown-{covered:.3f}", t_start=covered, t_end=start, image_ref="",
                                    histo_score=0.0, keep=False))
        covered = max(covered, end)
    return gaps


def pairable(chunk: ScoredChunk) -> bool:
    """A chunk whose image may become a pair: kept by the filter (another video's image included)."""
    return chunk.keep


def image_id_of(chunk: ScoredChunk) -> str:
    """The image a chunk's pairs point at: the first video's, for a picture another video showed first."""
    return chunk.duplicate_of or chunk.chunk_id


def align_video(video_id: str, source: str, chunks: list[ScoredChunk], sentences: list[Sentence],
                models: dict[str, str], created_at: str, params: AlignParams | None = None,
                earlier_texts: Mapping[str, Iterable[str]] | None = None) -> Alignment:
    """Pairs of one video, ordered by time, with the lag used and how many near-duplicates went.

    `chunks` holds one entry per interval an image was on screen (entries of one image share
    chunk_id), so a slide shown twice collects text from both showings under one image_id.
    It should hold every picture, rejected ones too: they compete for sentences like kept ones,
    and what they win is dropped (it was said about a picture that gives no pair); so do long
    stretches without a picture (`unshown_spans`). Only medical sentences are paired, so every
    pair has medical content. `earlier_texts` maps an image_id to the texts other videos already
    paired with it; a pair repeating one of them is dropped as a duplicate.
    """
    params = params or AlignParams()
    # A frame's other pictures (`region_of`) share its time on screen: they take what the frame wins.
    regions: dict[tuple[str, float, float], list[ScoredChunk]] = {}
    for c in chunks:
        if c.region_of:
            regions.setdefault((c.region_of, c.t_start, c.t_end), []).append(c)
    chunks = [c for c in chunks if not c.region_of]
    lag = estimate_lag(chunks, sentences, params.max_lag_s, params.min_lag_evidence)
    competitors = [*chunks, *unshown_spans(chunks, sentences, params.min_gap_s)]
    shown = sorted(competitors, key=lambda c: (c.t_start, c.t_end, c.chunk_id))
    changes = [t + lag for c in shown for t in (c.t_start, c.t_end)]
    sentences, cut = split_at_changes(sentences, changes, params.break_tolerance_s, params.min_break_words)
    assigned = assign_sentences(shown, sentences, params.pad_s, lag, params.falloff_s)
    pairs: list[PairRecord] = []
    unpaired = 0
    for index, chunk in enumerate(shown):
        if not pairable(chunk):
            unpaired += len(assigned.get(index, []))  # dropped, not handed on to a neighbour
            continue
        group = assigned.get(index, [])
        for start, end in split_by_words([_words(s) for s, _ in group], params.max_words):
            pair = _pair(video_id, source, chunk, group[start:end], models, created_at)
            pairs.append(pair)
            for other in regions.get((chunk.chunk_id, chunk.t_start, chunk.t_end), []):
                if not pairable(other):  # the filter keeps every picture it sends; a message may say otherwise
                    continue
                twin = _pair(video_id, source, other, group[start:end], models, created_at)
                pairs.append(dataclasses.replace(twin, pair_id=region_pair_id(pair.pair_id, image_id_of(other))))
    phash_of = {image_id_of(c): c.phash for c in shown if pairable(c) and c.phash}
    unique, dropped = dedup_pairs(pairs, phash_of, params.dedup_max_hamming, params.dedup_min_jaccard)
    fresh, repeated = drop_known_texts(unique, earlier_texts or {}, params.dedup_min_jaccard)
    return Alignment(pairs=fresh, lag_s=lag, duplicates=len(dropped) + len(repeated), unpaired=unpaired,
                     sentences=sentences, cut=cut)


def align(video_id: str, source: str, chunks: list[ScoredChunk], sentences: list[Sentence],
          models: dict[str, str], created_at: str, params: AlignParams | None = None) -> list[PairRecord]:
    """The pairs of `align_video`."""
    return align_video(video_id, source, chunks, sentences, models, created_at, params).pairs
