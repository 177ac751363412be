"""Near-duplicate pairs: the same picture described in nearly the same words, within a video or across videos.

A narrator who returns to a slide often says the same thing again; two such pairs teach a
model nothing the first did not. A pair is a duplicate only when both halves repeat: a similar
image with different words (or the same words over a different image) is new information.
The better pair survives, whatever order the pairs arrive in, so a retry drops the same ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from quilt.core.imaging import hamming
from quilt.core.records import PairRecord

MAX_HAMMING = 6  # the decoder's repeat threshold (decode_params.dedup_max_hamming): same picture
MIN_JACCARD = 0.8
SHINGLE_WORDS = 2  # word pairs: one changed word in twenty still leaves Jaccard above 0.8


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[tuple[str, ...]]:
    """Overlapping runs of `size` lower-cased words; a shorter text is one shingle of all its words."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    if len(words) <= size:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i:i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _same_image(a: PairRecord, b: PairRecord, phash_of: Mapping[str, str], max_hamming: int) -> bool:
    if a.image_id and a.image_id == b.image_id:
        return True
    ha, hb = phash_of.get(a.image_id, ""), phash_of.get(b.image_id, "")
    return bool(ha and hb) and hamming(ha, hb) <= max_hamming


def _preference(pair: PairRecord) -> tuple[float, float, float, float, str]:
    """Sort key, best first: surer alignment, then better image, then earlier, then id (total order)."""
    return (-pair.align_score, -pair.histo_score, pair.t_start, pair.t_end, pair.pair_id)


def dedup_pairs(pairs: list[PairRecord], phash_of: Mapping[str, str], max_hamming: int = MAX_HAMMING,
                min_jaccard: float = MIN_JACCARD) -> tuple[list[PairRecord], list[PairRecord]]:
    """(kept, dropped): a pair is dropped when a better kept pair has a near-identical image and text.

    `phash_of` maps image_id to its 16-hex-digit perceptual hash; an image without a hash
    matches only pairs of the same image_id. Kept pairs stay in their input order.
    """
    texts = [shingles(p.text) for p in pairs]
    kept: list[int] = []
    dropped: list[int] = []
    for index in sorted(range(len(pairs)), key=lambda i: _preference(pairs[i])):
        pair = pairs[index]
        if any(_same_image(pair, pairs[better], phash_of, max_hamming)
               and jaccard(texts[index], texts[better]) >= min_jaccard for better in kept):
            dropped.append(index)
        else:
            kept.append(index)
    return [pairs[i] for i in sorted(kept)], [pairs[i] for i in sorted(dropped)]


def drop_known_texts(pairs: list[PairRecord], earlier_texts: Mapping[str, Iterable[str]],
                     min_jaccard: float = MIN_JACCARD) -> tuple[list[PairRecord], list[PairRecord]]:
    """(kept, dropped): a pair is dropped when another video already paired its image with nearly its text.

    `earlier_texts` maps image_id to those texts (a re-uploaded lecture says the same words over the
    same pictures; a different lecture reusing a stock picture says new ones, which are kept).
    """
    known = {image: [shingles(t) for t in texts] for image, texts in earlier_texts.items()}
    kept: list[PairRecord] = []
    dropped: list[PairRecord] = []
    for pair in pairs:
        words = shingles(pair.text)
        repeated = any(jaccard(words, other) >= min_jaccard for other in known.get(pair.image_id, []))
        (dropped if repeated else kept).append(pair)
    return kept, dropped
