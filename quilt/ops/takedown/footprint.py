"""Finding what a video left behind: its objects, its pairs and images, and the index entries that point at them.

Read-only: nothing here writes to the bucket. Every layout comes from quilt/core/keys.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quilt.adapters.store import ObjectStore, get_json
from quilt.core import keys

from .markers import check_video_id, image_owner


@dataclass
class Footprint:
    """Ids that lead to the video's data; kept in the marker so that a rerun still finds it all."""
    pair_images: dict[str, str] = field(default_factory=dict)  # the video's pair id -> its image_id
    image_ids: set[str] = field(default_factory=set)  # the video's own images (chunk ids under frames/<id>/)
    masked: dict[str, set[str]] = field(default_factory=dict)  # other video -> its pair ids on those images

    def merge(self, other: Footprint) -> None:
        self.pair_images.update(other.pair_images)
        self.image_ids |= other.image_ids
        for video, pairs in other.masked.items():
            self.masked.setdefault(video, set()).update(pairs)

    def to_json(self) -> dict[str, Any]:
        return {"pair_images": dict(sorted(self.pair_images.items())), "image_ids": sorted(self.image_ids),
                "masked": {v: sorted(p) for v, p in sorted(self.masked.items())}}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Footprint:
        data = data or {}
        return cls(dict(data.get("pair_images", {})), set(data.get("image_ids", [])),
                   {v: set(p) for v, p in data.get("masked", {}).items()})

    def masked_ids(self) -> set[str]:
        return {p for pairs in self.masked.values() for p in pairs}


# -- the video's own objects ------------------------------------------------------------------------------

def video_prefixes(video_id: str) -> list[str]:
    """Every per-video folder of the bucket (quilt/core/keys.py names them).

    Shards and the Parquet index are not folders (`pairs/shards/<id>-NNNNN.tar`, `pairs/index/<id>.parquet`):
    see `video_objects`.
    """
    check_video_id(video_id)
    return keys.video_folders(video_id)


def shards_prefix() -> str:
    return keys.shards_folder(keys.PAIRS_PREFIX)


def index_key(video_id: str) -> str:
    return keys.shard_index_key(video_id, keys.PAIRS_PREFIX)


def shard_keys(store: ObjectStore, video_id: str) -> list[str]:
    """The video's WebDataset shards in order; an id that merely starts the same (`<id>-x`) is not matched."""
    found = [k for k in store.list(shards_prefix() + video_id + "-") if keys.is_shard_of(k, video_id)]
    return sorted(found, key=keys.shard_number)


def video_objects(store: ObjectStore, video_id: str) -> list[str]:
    """Every object of the video itself: shards and index first, then each per-video folder."""
    found = shard_keys(store, video_id)
    if store.exists(index_key(video_id)):
        found.append(index_key(video_id))
    for prefix in video_prefixes(video_id):
        found.extend(store.list(prefix))
    return found


# -- its pairs and images, and other videos' pairs on them ------------------------------------------------

def parquet_rows(store: ObjectStore, key: str, columns: Sequence[str]) -> list[dict[str, Any]] | None:
    """The given columns of a Parquet index, row by row; None when there is no such object."""
    try:
        data = store.get_bytes(key)
    except KeyError:
        return None
    import pyarrow.parquet as pq

    return list(pq.read_table(io.BytesIO(data), columns=list(columns)).to_pylist())


def find_footprint(store: ObjectStore, video_id: str) -> Footprint:
    """The video's pairs (records and Parquet index), its images, and other videos' pairs on them."""
    found = Footprint()
    for key in store.list(keys.pair_records_folder(video_id)):
        try:
            record = get_json(store, key)
        except (KeyError, ValueError):
            continue
        found.pair_images[str(record.get("pair_id", keys.pair_id_of(key)))] = str(record.get("image_id", ""))
        if image_owner(str(record.get("image", ""))) == video_id and record.get("image_id"):
            found.image_ids.add(str(record["image_id"]))
    for row in parquet_rows(store, index_key(video_id), ("pair_id", "image_id", "image")) or []:
        found.pair_images.setdefault(str(row["pair_id"]), str(row["image_id"] or ""))
        if image_owner(str(row["image"] or "")) == video_id and row["image_id"]:
            found.image_ids.add(str(row["image_id"]))
    for key in store.list(keys.frames_folder(video_id)):
        found.image_ids.add(keys.frame_chunk_id(key))
    return found


def find_masked(store: ObjectStore, video_id: str, image_ids: Iterable[str]) -> dict[str, set[str]]:
    """Other videos' pairs on the video's images, by the texts kept per image (every written pair leaves one)."""
    masked: dict[str, set[str]] = {}
    for image_id in sorted(image_ids):
        for key in store.list(keys.image_texts_folder(image_id)):
            try:
                entry = get_json(store, key)
            except (KeyError, ValueError):
                continue
            other = str(entry.get("video_id", ""))
            if other and other != video_id and entry.get("image_id") == image_id:
                masked.setdefault(other, set()).add(str(entry.get("pair_id", "")))
    return masked


# -- index entries ----------------------------------------------------------------------------------------

def phash_entries(store: ObjectStore, video_id: str) -> list[str]:
    """The video's perceptual-hash index objects (one per band per image), confirmed by their bodies."""
    own = keys.phash_digest(video_id)
    out = []
    for key in store.list(keys.PHASH_INDEX_PREFIX.rstrip("/") + "/"):
        parts = keys.phash_entry_parts(key)
        if parts is None or parts[1] != own:
            continue
        try:
            entry = get_json(store, key)
        except (KeyError, ValueError):
            continue
        if entry.get("video_id") == video_id or image_owner(str(entry.get("image_key", ""))) == video_id:
            out.append(key)
    return out


def image_text_entries(store: ObjectStore, video_id: str, footprint: Footprint) -> list[str]:
    """Every text kept under the video's images (all videos'), and the video's texts under other images."""
    out: list[str] = []
    for image_id in sorted(footprint.image_ids):
        out.extend(store.list(keys.image_texts_folder(image_id)))
    for pair, image_id in sorted(footprint.pair_images.items()):
        if image_id and image_id not in footprint.image_ids:
            key = keys.image_text_key(image_id, pair)
            if store.exists(key):
                out.append(key)
    return sorted(set(out))


def search_row_withdrawn(row: dict[str, Any], video_id: str, pairs: set[str]) -> bool:
    """Whether a search index row goes with the video: one of `pairs`, or showing the video's image."""
    return str(row.get("pair_id", "")) in pairs or image_owner(str(row.get("image", ""))) == video_id


def search_indexes(store: ObjectStore) -> list[str]:
    """The `index/clip/<version>/` folders that hold a pairs.json."""
    return sorted(folder for k in store.list(keys.SEARCH_INDEX_PREFIX + "/")
                  if (folder := keys.search_folder_of(k)) is not None)


def search_rows(store: ObjectStore, video_id: str, pairs: set[str]) -> dict[str, int]:
    """Per search index folder, how many rows are the video's (or masked) pairs or show its images."""
    out = {}
    for base in search_indexes(store):
        rows = get_json(store, keys.search_rows_key(base))
        drop = sum(search_row_withdrawn(row, video_id, pairs) for row in rows)
        if drop:
            out[base] = drop
    return out


# -- other videos' aligner join states --------------------------------------------------------------------

def shows_picture(chunk: Any, video_id: str, image_ids: set[str]) -> bool:
    """Whether a join state's chunk shows the video's picture (a repeat of it, or its frame key)."""
    return image_owner(chunk.chunk.image_key) == video_id or (chunk.chunk.duplicate_of in image_ids
                                                             and bool(chunk.chunk.duplicate_of))


def join_states_showing(store: ObjectStore, video_id: str, image_ids: set[str]) -> dict[str, bool]:
    """Other videos whose aligner join state shows the video's pictures -> whether one was kept (a pair)."""
    from quiltpb.v1 import messages_pb2 as pb

    out: dict[str, bool] = {}
    for key in store.list(keys.JOIN_STATE_PREFIX):
        other = keys.join_state_video(key)
        if other == video_id or key != keys.join_key(other, "frames"):
            continue
        try:
            frames = pb.FilteredFrames.FromString(store.get_bytes(key))
        except KeyError:
            continue
        showing = [c for c in frames.chunks if shows_picture(c, video_id, image_ids)]
        if showing:
            out[other] = any(c.keep for c in showing)
    return out
