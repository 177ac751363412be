"""The texts each image was paired with, across videos, kept in the store for cross-video dedup."""

from __future__ import annotations

from pathlib import Path

from quilt.adapters.store import LocalStore
from quilt.core.records import PairRecord
from quilt.stages.align.image_texts import ImageTexts
from quilt.stages.align.pair_dedup import drop_known_texts


def record(video: str, pair: str, image: str, text: str) -> PairRecord:
    return PairRecord(pair_id=pair, video_id=video, source="x.mp4", image=f"frames/{image}.jpg", t_start=0.0,
                      t_end=5.0, text=text, asr_text=text, histo_score=0.9, models={}, created_at="", image_id=image)


def test_texts_are_found_by_image_and_a_videos_own_are_left_out(tmp_path: Path) -> None:
    texts = ImageTexts(LocalStore(tmp_path))
    texts.add(record("v-0", "p-0", "v-0-c1", "A portal tract with a bile duct."))
    texts.add(record("v-0", "p-0", "v-0-c1", "A portal tract with a bile duct."))  # a retry writes the same key
    texts.add(record("v-1", "p-1", "v-0-c1", "Steatosis of the hepatocytes."))
    texts.add(record("v-1", "p-2", "v-1-c4", "Bridging fibrosis."))
    assert texts.texts("v-0-c1") == ["A portal tract with a bile duct.", "Steatosis of the hepatocytes."]
    # A retried v-1 must not find its own earlier attempt, or it would drop all its pairs as repeats.
    assert texts.texts_for({"v-0-c1", "v-1-c4"}, except_video="v-1") == {
        "v-0-c1": ["A portal tract with a bile duct."], "v-1-c4": []}
    assert texts.texts("v-9-c0") == []


def test_a_known_text_is_dropped_only_for_its_own_image() -> None:
    pairs = [record("v-2", "a", "v-0-c1", "A portal tract with a bile duct!"),
             record("v-2", "b", "v-0-c1", "Interface hepatitis with lymphocytes."),
             record("v-2", "c", "v-2-c3", "A portal tract with a bile duct.")]
    kept, dropped = drop_known_texts(pairs, {"v-0-c1": ["A portal tract with a bile duct."]})
    assert [p.pair_id for p in kept] == ["b", "c"] and [p.pair_id for p in dropped] == ["a"]
