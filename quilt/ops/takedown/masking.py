"""Masking other videos' pairs that lose their image when a video is withdrawn.

A picture a later video B showed again is paired under the earlier video A's image. When A is
withdrawn, B's shards and Parquet index are rewritten without those pairs, B's aligner join state
forgets the picture, and the search index drops their rows (see the package doc for why).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from typing import Any

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.core import keys
from quilt.core.records import PairRecord

from .footprint import index_key, parquet_rows, search_row_withdrawn, shard_keys, shows_picture
from .markers import TakedownError, image_owner

DEFAULT_SHARD_PAIRS = 1000  # WebDatasetShardWriter's default, which the aligner uses


def _shard_members(data: bytes) -> list[tuple[PairRecord, bytes]]:
    """(record, image) per pair of a WebDataset shard, in member order."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        files: dict[str, dict[str, bytes]] = {}
        order: list[str] = []
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is None:
                continue
            key, _, suffix = member.name.partition(".")
            if key not in files:
                files[key] = {}
                order.append(key)
            files[key][suffix] = handle.read()
    for key in order:
        parts = files[key]
        if "json" in parts and "jpg" in parts:
            out.append((PairRecord.from_dict(json.loads(parts["json"])), parts["jpg"]))
    return out


def _row_record(row: dict[str, Any]) -> PairRecord:
    return PairRecord(pair_id=str(row["pair_id"]), video_id=str(row.get("video_id") or ""), source="",
                      image=str(row.get("image") or ""), t_start=0.0, t_end=0.0, text="", asr_text="",
                      histo_score=0.0)


def _readable_members(store: ObjectStore, name: str, quarantined: list[str] | None) -> list[tuple[PairRecord, bytes]]:
    """The shard's pairs; an object that is no shard (junk under pairs/shards/) is moved to quarantine/ instead."""
    data = store.get_bytes(name)
    try:
        return _shard_members(data)
    except (tarfile.TarError, ValueError, KeyError, TypeError, UnicodeDecodeError, EOFError):
        store.put_bytes(keys.quarantine_key(name), data)
        store.delete(name)
        if quarantined is not None:
            quarantined.append(name)
        return []


def mask_pairs(store: ObjectStore, other: str, drop: Callable[[PairRecord], bool],
               quarantined: list[str] | None = None) -> tuple[set[str], int]:
    """Rewrite `other`'s shards and Parquet index without the pairs `drop` picks: (pair ids removed, shards written).

    Shards are read in order, each whole before any shard of that number is written again, and a
    pair only ever moves to a lower-numbered shard; so a crash midway leaves every kept pair in some
    shard (perhaps twice, until the rerun, which drops the repeat by pair id). The index is written
    last: while it still lists a masked pair, the rewrite has not finished and a rerun redoes it.
    An object among the shards that cannot be read as one is moved to quarantine/ (its key appended to
    `quarantined`) and the rewrite goes on: one junk object must not keep a withdrawn video's pairs alive.
    """
    from quilt.adapters.writers import WebDatasetShardWriter

    rows = parquet_rows(store, index_key(other), ("pair_id", "video_id", "image"))
    if rows is not None and not any(drop(_row_record(row)) for row in rows):
        return set(), 0  # the index is clean: nothing left to mask (or already masked)
    names = shard_keys(store, other)
    if rows is None and not names:
        return set(), 0
    removed: set[str] = set()
    writer: WebDatasetShardWriter | None = None
    for number, name in enumerate(names):
        members = _readable_members(store, name, quarantined)
        if writer is None:
            size = len(members) if len(names) > 1 and number == 0 and members else DEFAULT_SHARD_PAIRS
            writer = WebDatasetShardWriter(store, keys.PAIRS_PREFIX, other, max_pairs=size)
        for record, image in members:
            if drop(record):
                removed.add(record.pair_id)
            else:
                writer.write(record, image)
    writer = writer or WebDatasetShardWriter(store, keys.PAIRS_PREFIX, other)
    writer.close()
    return removed, len(writer.shard_keys)


def masker(video_id: str, pairs: set[str]) -> Callable[[PairRecord], bool]:
    """Which pairs of another video go: the ones found on the video's images, and any other showing them."""
    return lambda record: record.pair_id in pairs or image_owner(record.image) == video_id


def mask_join_state(store: ObjectStore, other: str, video_id: str, image_ids: set[str]) -> int:
    """Turn `other`'s chunks that show the video's pictures into rejected chunks without an image; how many."""
    from quiltpb.v1 import messages_pb2 as pb

    key = keys.join_key(other, "frames")
    try:
        frames = pb.FilteredFrames.FromString(store.get_bytes(key))
    except KeyError:
        return 0
    showing = [c for c in frames.chunks if shows_picture(c, video_id, image_ids)]
    for chunk in showing:  # still there for the aligner: the words said over it are dropped with it
        chunk.keep, chunk.histo_score = False, 0.0
        chunk.chunk.image_key, chunk.chunk.duplicate_of = "", ""
        chunk.ClearField("crop")
    if showing:
        store.put_bytes(key, frames.SerializeToString())
    return len(showing)


def prune_search_index(store: ObjectStore, base: str, video_id: str, pairs: set[str]) -> int:
    """Drop the rows of one search index that are withdrawn; returns how many.

    The embeddings are written before pairs.json; a rerun after a crash between the two finds the
    embeddings already as long as the kept rows and only writes pairs.json.
    """
    import numpy as np

    rows = get_json(store, keys.search_rows_key(base))
    keep = [i for i, row in enumerate(rows) if not search_row_withdrawn(row, video_id, pairs)]
    if len(keep) == len(rows):
        return 0
    embeddings = np.load(io.BytesIO(store.get_bytes(keys.search_embeddings_key(base))))
    if len(embeddings) == len(rows):
        buffer = io.BytesIO()
        np.save(buffer, embeddings[keep].astype(np.float32))
        store.put_bytes(keys.search_embeddings_key(base), buffer.getvalue())
    elif len(embeddings) != len(keep):
        raise TakedownError(f"search index {base} has {len(embeddings)} embeddings for {len(rows)} rows; rebuild it "
                            "(`quilt search --index-build`) and run the takedown again")
    put_json(store, keys.search_rows_key(base), [rows[i] for i in keep])
    try:
        latest = get_json(store, keys.SEARCH_LATEST_KEY)
    except KeyError:
        latest = None
    if latest and base == keys.search_index_folder(latest.get("version")):
        put_json(store, keys.SEARCH_LATEST_KEY, {**latest, "count": len(keep)})
    return len(rows) - len(keep)
