"""Near-duplicate pairs within a video: the same picture and nearly the same words."""

from __future__ import annotations

from dataclasses import replace

from quilt.core.records import PairRecord
from quilt.stages.align.pair_dedup import dedup_pairs, jaccard, shingles

TEXT = ("Here the granulomas are non-caseating, with multinucleated giant cells and a rim of lymphocytes "
        "around them in the lung")


def pair(n: int, image_id: str, text: str = TEXT, score: float = 0.9) -> PairRecord:
    return PairRecord(pair_id=f"p-{n}", video_id="v-1", source="t.mp4", image=f"frames/{image_id}.jpg",
                      t_start=10.0 * n, t_end=10.0 * n + 8, text=text, asr_text="", histo_score=0.8,
                      image_id=image_id, align_score=score)


HASHES = {"a": "0f0f0f0f0f0f0f0f", "a-again": "0f0f0f0f0f0f0f0e", "a-close": "0f0f0f0f0f0f003f",
          "b": "f0f0f0f0f0f0f0f0"}


def test_shingle_jaccard_tolerates_one_changed_word() -> None:
    edited = TEXT.replace("giant", "huge")
    assert jaccard(shingles(TEXT), shingles(edited)) >= 0.8
    assert jaccard(shingles(TEXT), shingles("A glomerulus with crescents")) == 0.0
    assert shingles("Hi!") == frozenset({("hi",)}) and jaccard(shingles(""), shingles("")) == 1.0


def test_same_image_and_text_keeps_the_better_aligned_pair() -> None:
    worse, better = pair(0, "a", score=0.6), pair(3, "a-again", score=0.95)
    kept, dropped = dedup_pairs([worse, better], HASHES)
    assert kept == [better] and dropped == [worse]
    assert dedup_pairs([better, worse], HASHES) == (kept, dropped)  # order does not matter


def test_similar_words_over_a_similar_image_are_duplicates() -> None:
    edited = pair(1, "a-close", TEXT.replace("giant", "huge"), score=0.7)
    kept, dropped = dedup_pairs([pair(0, "a"), edited], HASHES)  # hash distance 6, the limit
    assert [p.pair_id for p in kept] == ["p-0"] and dropped == [edited]


def test_only_both_halves_repeating_make_a_duplicate() -> None:
    other_image = pair(1, "b")
    other_text = pair(2, "a-again", "A glomerulus with cellular crescents in Bowman space")
    pairs = [pair(0, "a"), other_image, other_text]
    assert dedup_pairs(pairs, HASHES) == (pairs, [])
    # Without hashes, only pairs of the same image compare as the same picture.
    same_image = pair(3, "a", score=0.5)
    kept, dropped = dedup_pairs([pair(0, "a"), pair(1, "a-again"), same_image], {})
    assert [p.pair_id for p in kept] == ["p-0", "p-1"] and dropped == [same_image]


def test_ties_are_broken_deterministically() -> None:
    first, second = pair(0, "a"), replace(pair(1, "a"), histo_score=0.8)
    assert dedup_pairs([second, first], HASHES)[0] == [first]  # same scores: the earlier pair stays


def test_an_image_beyond_the_hash_limit_is_another_picture() -> None:
    hashes = {**HASHES, "a-far": "0f0f0f0f0f0f007f"}  # distance 7
    pairs = [pair(0, "a"), pair(1, "a-far")]
    assert dedup_pairs(pairs, hashes) == (pairs, [])
    assert len(dedup_pairs(pairs, hashes, max_hamming=7)[0]) == 1
