"""What a takedown would delete and mask now, found before anything is touched (`quilt takedown --dry-run`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from quilt.adapters.store import ObjectStore

from .footprint import (
    Footprint,
    find_footprint,
    find_masked,
    image_text_entries,
    join_states_showing,
    phash_entries,
    search_rows,
    shards_prefix,
    video_objects,
    video_prefixes,
)
from .markers import check_video_id, read_marker


@dataclass
class Plan:
    """What a takedown would delete and mask now (`quilt takedown --dry-run` prints it)."""
    video_id: str
    footprint: Footprint
    objects: list[str]  # the video's own objects
    phash: list[str]
    image_texts: list[str]
    search: dict[str, int]  # index folder -> rows to drop
    marker: dict[str, Any] | None
    states: list[str] = field(default_factory=list)  # other videos whose aligner join state shows its pictures

    @property
    def pairs(self) -> int:
        return len(self.footprint.pair_images)

    @property
    def masked(self) -> int:
        return len(self.footprint.masked_ids())

    @property
    def index_entries(self) -> int:
        return len(self.phash) + len(self.image_texts) + sum(self.search.values())

    @property
    def empty(self) -> bool:
        return not (self.objects or self.pairs or self.masked or self.index_entries)

    def by_prefix(self) -> dict[str, int]:
        return dict(Counter(group_of(key, self.video_id) for key in self.objects))

    def steps(self) -> int:
        return len(self.objects) + len(self.phash) + len(self.image_texts) + len(self.search) + len(
            set(self.footprint.masked) | set(self.states))


def group_of(key: str, video_id: str) -> str:
    """The per-video prefix (or shard/index kind) a key of the video belongs to, for reports."""
    if key.startswith(shards_prefix()):
        return shards_prefix() + f"{video_id}-NNNNN.tar"
    for prefix in video_prefixes(video_id):
        if key.startswith(prefix):
            return prefix
    return key


def plan(store: ObjectStore, video_id: str) -> Plan:
    """Find the video's footprint (merged with the one its marker kept) and everything it leads to."""
    check_video_id(video_id)
    marker = read_marker(store, video_id)
    footprint = Footprint.from_json((marker or {}).get("footprint"))
    footprint.merge(find_footprint(store, video_id))
    for other, pairs in find_masked(store, video_id, footprint.image_ids).items():
        footprint.masked.setdefault(other, set()).update(pairs)
    states = join_states_showing(store, video_id, footprint.image_ids)
    for other, kept in states.items():
        if kept:  # a kept chunk on its picture may have become a pair the texts do not list: check the shards
            footprint.masked.setdefault(other, set())
    pairs = set(footprint.pair_images) | footprint.masked_ids()
    return Plan(video_id, footprint, video_objects(store, video_id), phash_entries(store, video_id),
                image_text_entries(store, video_id, footprint), search_rows(store, video_id, pairs), marker,
                sorted(states))
