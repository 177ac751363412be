"""Withdrawing a video at its owner's request: `quilt takedown VIDEO_ID`.

The steps, in this order (every one is idempotent, so running the takedown twice is harmless and a
rerun after a crash at any point completes it):

1. A durable marker, `takedowns/<video_id>.json` (state "started"), before anything is touched: from
   then on every component can tell the video is withdrawn (the trainer reads the markers when it
   starts and at each checkpoint; the fetcher should refuse the video). The marker also keeps the
   video's *footprint*, the ids that lead to its data (its pair ids, its image ids, the other
   videos' pairs on its images), merged over runs: a rerun after a crash that already deleted the
   pair records still knows what to look for.
2. A tombstone on the pair topic: key = video id (the aligner's key, so it lands on the partition of
   the video's pairs, after them), value null, header `quilt-tombstone: video`; the Kafka convention,
   so downstream consumers delete too. What a tombstone withdraws: every pair of the video, AND
   every pair of any video whose image lies under the video's frames (`frames/<video_id>/`).
3. Pairs of other videos on the video's images are masked. A picture a later video B showed again
   is paired under the earlier video A's image (`image` = `frames/<A>/...`, see `duplicate_of` in
   services/decoder.py). When A is withdrawn, those pairs lose their image: B's WebDataset shards
   and Parquet index are rewritten without them, and their pair records are deleted. This is the
   conservative choice: withdrawal wins, even over words B's narrator said himself, because the
   image they describe is A's and is gone. B's aligner join state (`state/aligner/<B>/frames.pb`)
   is rewritten too, its chunks showing A's picture turned into rejected chunks without an image,
   so a replay of B neither needs A's deleted frame nor pairs anything with it. Those videos are
   found by the texts kept per image and by scanning the join states (one GET per video: a
   takedown is rare, and missing one is worse than a slow takedown).
4. Index entries: the video's perceptual hashes (`index/phash`, so no new video is pointed at its
   deleted frames), the texts kept under its images and its texts kept under other videos' images
   (`index/image-texts`), and rows of every search index (`index/clip/<version>/`) that are the
   video's pairs, the masked pairs, or point at its images.
5. Every object of the video under every per-video prefix (`video_prefixes`), its shards and its
   Parquet index, then a final sweep for anything a still-running stage wrote meanwhile.
6. The marker's state becomes "done", with the counts.

Not reached from here: the broker's own log of the earlier topics, checkpoints already written by the
trainer (a restarted or running trainer drops the video from its stream state, but a model cannot
unlearn), and copies outside the bucket.

The modules: `markers` (which videos are withdrawn, tombstones; all the trainer and the fetcher
import), `footprint` (finding what the video left behind), `planning` (the plan a dry run prints),
`masking` (other videos' pairs, join states and search rows) and `run` (the steps above). Every key
comes from quilt/core/keys.py.
"""

from __future__ import annotations

from .footprint import (
    Footprint,
    find_footprint,
    find_masked,
    image_text_entries,
    index_key,
    join_states_showing,
    parquet_rows,
    phash_entries,
    search_indexes,
    search_rows,
    shard_keys,
    shards_prefix,
    video_objects,
    video_prefixes,
)
from .markers import (
    TAKEDOWN_PREFIX,
    TOMBSTONE_HEADER,
    TOMBSTONE_VIDEO,
    TakedownError,
    check_video_id,
    image_owner,
    is_taken_down,
    marker_key,
    read_marker,
    taken_down_videos,
    tombstone_of,
    withdrawn,
)
from .masking import DEFAULT_SHARD_PAIRS, mask_join_state, mask_pairs, prune_search_index
from .planning import Plan, plan
from .run import Progress, Publish, TakedownReport, kafka_publisher, publish_tombstone, takedown

__all__ = [
    "DEFAULT_SHARD_PAIRS", "TAKEDOWN_PREFIX", "TOMBSTONE_HEADER", "TOMBSTONE_VIDEO", "Footprint", "Plan", "Progress",
    "Publish", "TakedownError", "TakedownReport", "check_video_id", "find_footprint", "find_masked",
    "image_owner", "image_text_entries", "index_key", "is_taken_down", "join_states_showing", "kafka_publisher",
    "marker_key", "mask_join_state", "mask_pairs", "parquet_rows", "phash_entries", "plan", "prune_search_index",
    "publish_tombstone", "read_marker", "search_indexes", "search_rows", "shard_keys", "shards_prefix", "takedown",
    "taken_down_videos", "tombstone_of", "video_objects", "video_prefixes", "withdrawn",
]
