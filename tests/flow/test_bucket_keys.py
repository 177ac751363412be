"""The bucket layout of quilt/core/keys.py: key strings pinned byte for byte, and each parser inverting its builder.

Keys outlive the code that wrote them (a bucket filled by an older release is read by a newer one, and
a takedown must find everything), so a change to any string here is a migration, not a refactor.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from quilt.adapters.store import LocalStore
from quilt.core import keys
from quilt.core.records import PairRecord
from quilt.ops.takedown import video_prefixes
from quilt.stages.align.image_texts import ImageTexts
from quilt.stages.decode.phash_index import PhashIndex


def test_per_video_keys_are_pinned() -> None:
    assert keys.video_key("v-1", ".mp4") == "videos/v-1/source.mp4"
    assert keys.video_key("v-1", "") == "videos/v-1/source.bin"
    assert keys.frame_key("v-1", "c7") == "frames/v-1/c7.jpg"
    assert keys.fov_crop_key("frames/v-1/c7.jpg") == "frames/v-1/c7-fov.jpg"
    assert keys.audio_window_key("v-1", 3) == "audio/v-1/00003.f32"
    assert keys.transcript_key("v-1", 12) == "transcripts/v-1/00012.json"
    assert keys.pair_key("v-1", "p-2") == "pairs/records/v-1/p-2.json"
    assert keys.PAIR_RECORDS_PREFIX == "pairs/records/"
    assert keys.join_key("v-1", "frames") == "state/aligner/v-1/frames.pb"
    assert keys.status_key("v-1", "asr") == "status/v-1/asr.json"
    assert keys.video_folders("v-1") == ["videos/v-1/", "frames/v-1/", "audio/v-1/", "transcripts/v-1/",
                                         "pairs/records/v-1/", "state/aligner/v-1/", "status/v-1/"]
    assert video_prefixes("v-1") == keys.video_folders("v-1")


def test_shard_and_index_keys_are_pinned() -> None:
    assert keys.shard_key("v-1", 0) == "pairs/shards/v-1-00000.tar"
    assert keys.shard_key("v-1", 12, "/out/") == "out/shards/v-1-00012.tar"
    assert keys.shard_key("v-1", 1, "") == "shards/v-1-00001.tar"
    assert keys.shard_index_key("v-1") == "pairs/index/v-1.parquet"
    assert keys.shard_index_key("v-1", "") == "index/v-1.parquet"
    assert keys.shards_folder() == "pairs/shards/"
    assert keys.is_shard_of("pairs/shards/v-1-00003.tar", "v-1")
    assert not keys.is_shard_of("pairs/shards/v-1-x-00003.tar", "v-1")  # another video whose id starts the same
    assert not keys.is_shard_of("other/shards/v-1-00003.tar", "v-1")
    assert keys.shard_number("pairs/shards/v-1-00042.tar") == 42


def test_index_and_operation_keys_are_pinned() -> None:
    assert keys.image_text_key("img", "p-1") == keys.image_texts_folder("img") + "p-1.json"
    assert keys.image_texts_folder("img") == "index/image-texts/b29814cf5792e684cd75d6a7/"  # sha256("img")[:24]
    assert keys.phash_entry_name(0xFF, "v", "c") == "00000000000000ff.4c94485e0c21ae6c.7ac44da0ed133004"
    assert keys.phash_band_folder("index/phash/", 3, 0xA, 9) == "index/phash/b03/00a/"
    assert keys.search_index_folder(4) == "index/clip/4/"
    assert keys.search_rows_key("index/clip/4/") == "index/clip/4/pairs.json"
    assert keys.search_embeddings_key("index/clip/4/") == "index/clip/4/embeddings.npy"
    assert keys.SEARCH_LATEST_KEY == "index/clip/latest.json"
    assert keys.takedown_marker_key("v-1") == "takedowns/v-1.json"
    assert keys.dlq_replay_marker_key("quilt.deadletter", 2, 17) == "dlq/replayed/quilt.deadletter-2-17.json"
    assert keys.subscription_key("sub-1") == "subscriptions/sub-1/subscription.json"
    assert keys.subscription_seen_folder("sub-1", "/subs/") == "subs/sub-1/seen/"
    assert keys.checkpoint_name(7) == "ckpt-000000007"
    assert keys.checkpoint_file_key("/training/run/", "ckpt-1", "state.pt") == "training/run/ckpt-1/state.pt"
    assert keys.checkpoint_latest_key("training/run") == "training/run/latest.json"
    assert keys.promoted_key("training/run/") == "training/run/promoted.json"


def test_parsers_invert_builders() -> None:
    assert keys.image_owner(keys.frame_key("v-1", "c7")) == "v-1"
    assert keys.image_owner("videos/v-1/source.mp4") == "" and keys.image_owner("frames/x.jpg") == ""
    assert keys.frame_chunk_id(keys.fov_crop_key(keys.frame_key("v-1", "c7"))) == "c7"
    assert keys.pair_id_of(keys.pair_key("v-1", "p-2")) == "p-2"
    assert keys.join_state_video(keys.join_key("v-1", "text")) == "v-1"
    assert keys.status_stage(keys.status_key("v-1", "asr")) == "asr"
    assert keys.status_video(keys.status_key("v-1", "asr")) == "v-1" and keys.status_video("status/x.json") is None
    assert keys.takedown_marker_video(keys.takedown_marker_key("v.1")) == "v.1"
    assert keys.takedown_marker_video("takedowns/v/x.json") is None
    assert keys.takedown_marker_video("takedowns/v.txt") is None
    assert keys.search_folder_of(keys.search_rows_key("index/clip/4/")) == "index/clip/4/"
    assert keys.search_folder_of("index/clip/4/embeddings.npy") is None
    assert keys.is_subscription_key(keys.subscription_key("sub-1"))
    assert not keys.is_subscription_key(keys.subscription_seen_folder("sub-1") + "v-1")
    parts = keys.phash_entry_parts("index/phash/b00/ab/" + keys.phash_entry_name(1, "v", "c"))
    assert parts is not None and parts[1] == keys.phash_digest("v")
    assert keys.phash_entry_parts("index/phash/b00/ab/other.json") is None


def test_stage_indexes_write_the_keys_named_here(tmp_path: Path) -> None:
    """The takedown finds index entries by these names: the stages that write them must agree."""
    store = LocalStore(tmp_path)
    index = PhashIndex(store, keys.PHASH_INDEX_PREFIX)
    index.add(f"{0x0123456789ABCDEF:016x}", "v-1", "c7", keys.frame_key("v-1", "c7"))
    written = sorted(store.list(keys.PHASH_INDEX_PREFIX + "/"))
    assert len(written) == index.bands
    assert {k.rsplit("/", 1)[-1] for k in written} == {keys.phash_entry_name(0x0123456789ABCDEF, "v-1", "c7")}
    for band, key in enumerate(sorted(written, key=lambda k: k.split("/")[2])):
        value = index._band_value(band, 0x0123456789ABCDEF)
        assert key.startswith(keys.phash_band_folder(keys.PHASH_INDEX_PREFIX, band, value, index.spans[band][1]))
    record = PairRecord(pair_id="p-1", video_id="v-2", source="", image=keys.frame_key("v-1", "c7"), t_start=0.0,
                        t_end=1.0, text="a text", asr_text="a text", histo_score=0.9, image_id="c7")
    ImageTexts(store).add(record)
    assert store.exists(keys.image_text_key("c7", "p-1"))


def test_takedown_markers_load_nothing_heavy() -> None:
    """The trainer and the fetcher import the markers alone; that must not pull in Kafka, writers or Parquet."""
    heavy = ("kafka", "quilt.adapters.kafka_client", "quilt.adapters.writers", "pyarrow")
    code = ("import sys, quilt.ops.takedown.markers; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
