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
5. Every object of the video under every per-video prefix (`VIDEO_PREFIXES`), its shards and its
   Parquet index, then a final sweep for anything a still-running stage wrote meanwhile.
6. The marker's state becomes "done", with the counts.

Not reached from here: the broker's own log of the earlier topics, checkpoints already written by the
trainer (a restarted or running trainer drops the video from its stream state, but a model cannot
unlearn), and copies outside the bucket.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quilt import keys, topics
from quilt.config import Settings
from quilt.kafka_client import kafka_python_options
from quilt.records import PairRecord
from quilt.stages.image_texts import ImageTexts
from quilt.status import status_key
from quilt.store import ObjectStore, get_json, put_json
from quilt.time_util import now_iso

TAKEDOWN_PREFIX = "takedowns/"
TOMBSTONE_HEADER = "quilt-tombstone"
TOMBSTONE_VIDEO = b"video"
SEARCH_PREFIX = "index/clip/"  # quilt.search.INDEX_PREFIX; not imported, so the trainer need not load numpy here
_VIDEO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SHARD_NUMBER = re.compile(r"-(\d{5})\.tar")
DEFAULT_SHARD_PAIRS = 1000  # WebDatasetShardWriter's default, which the aligner uses

Progress = Callable[[str, int, int], None]  # (what, done, total)
Publish = Callable[[str], None]


class TakedownError(RuntimeError):
    """The takedown cannot go on (a bad id, an inconsistent index); the message says what to do."""


def _parent(key: str) -> str:
    return key.rsplit("/", 1)[0] + "/"


def video_prefixes(video_id: str) -> list[str]:
    """Every per-video folder of the bucket, taken from the functions that name the keys.

    transcripts/ is named by services/asr.py alone. Shards and the Parquet index are not folders
    (`pairs/shards/<id>-NNNNN.tar`, `pairs/index/<id>.parquet`): see `video_objects`.
    """
    check_video_id(video_id)
    return [
        _parent(keys.video_key(video_id, ".mp4")),  # videos/<id>/
        _parent(keys.frame_key(video_id, "c")),  # frames/<id>/ (with the filter's -fov crops)
        _parent(keys.audio_window_key(video_id, 0)),  # audio/<id>/
        f"transcripts/{video_id}/",
        _parent(keys.pair_key(video_id, "p")),  # pairs/records/<id>/
        _parent(keys.join_key(video_id, "text")),  # state/aligner/<id>/
        _parent(status_key(video_id, "fetcher")),  # status/<id>/
    ]


def shards_prefix() -> str:
    return f"{keys.PAIRS_PREFIX}/shards/"


def index_key(video_id: str) -> str:
    return f"{keys.PAIRS_PREFIX}/index/{video_id}.parquet"


def shard_keys(store: ObjectStore, video_id: str) -> list[str]:
    """The video's WebDataset shards in order; an id that merely starts the same (`<id>-x`) is not matched."""
    prefix = shards_prefix() + video_id
    pattern = re.compile(re.escape(video_id) + r"-\d{5}\.tar")
    found = [k for k in store.list(prefix + "-") if pattern.fullmatch(k[len(shards_prefix()):])]
    return sorted(found, key=lambda k: int(_SHARD_NUMBER.search(k).group(1)))  # type: ignore[union-attr]


def check_video_id(video_id: str) -> str:
    if not _VIDEO_ID.fullmatch(video_id or "") or ".." in video_id:
        raise TakedownError(f"not a video id: {video_id!r} (letters, digits, '_', '-' and '.')")
    return video_id


def marker_key(video_id: str) -> str:
    return f"{TAKEDOWN_PREFIX}{video_id}.json"


def read_marker(store: ObjectStore, video_id: str) -> dict[str, Any] | None:
    try:
        return dict(get_json(store, marker_key(video_id)))
    except KeyError:
        return None


def is_taken_down(store: ObjectStore, video_id: str) -> bool:
    """True from the moment a takedown is requested (state "started" too): withdrawal wins."""
    return store.exists(marker_key(video_id))


def taken_down_videos(store: ObjectStore) -> set[str]:
    return {key[len(TAKEDOWN_PREFIX):].removesuffix(".json") for key in store.list(TAKEDOWN_PREFIX)
            if key.endswith(".json") and "/" not in key[len(TAKEDOWN_PREFIX):]}


def image_owner(image_key: str) -> str:
    """The video whose frames hold `image_key` (`frames/<video_id>/...`), or "" for any other key."""
    parts = image_key.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "frames" else ""


def withdrawn(video_id: str, image: str, excluded: set[str] | frozenset[str]) -> bool:
    """Whether a pair is withdrawn by the takedowns of `excluded`: its video's, or its image's."""
    return bool(excluded) and (video_id in excluded or image_owner(image) in excluded)


def tombstone_of(key: bytes | None, value: bytes | None,
                 headers: Sequence[tuple[str, bytes | None]] | None = None) -> str | None:
    """The withdrawn video id when a pair-topic record is a tombstone, else None.

    A record is a tombstone when it carries the `quilt-tombstone` header or has no value (Kafka's
    convention); the video is its key ("" when a tombstone came without a key: nothing to withdraw).
    """
    marked = any(name == TOMBSTONE_HEADER for name, _ in (headers or ()))
    if not marked and value:
        return None
    return (key or b"").decode("utf-8", "replace")


def publish_tombstone(settings: Settings, video_id: str, timeout_s: float = 30.0) -> None:
    """Produce the video's tombstone on the pair topic and wait for the broker's acknowledgement."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**kafka_python_options(settings), acks="all", retries=5, enable_idempotence=True,
                             request_timeout_ms=30000)
    try:
        future = producer.send(settings.topic(topics.PAIRS), key=video_id.encode("utf-8"), value=None,
                               headers=[(TOMBSTONE_HEADER, TOMBSTONE_VIDEO)])
        producer.flush(timeout=timeout_s)
        future.get(timeout=timeout_s)
    finally:
        producer.close()


def kafka_publisher(settings: Settings) -> Publish:
    return lambda video_id: publish_tombstone(settings, video_id)


# -- what the video left behind ---------------------------------------------------------------------------

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


def _parquet_rows(store: ObjectStore, key: str, columns: Sequence[str]) -> list[dict[str, Any]] | None:
    try:
        data = store.get_bytes(key)
    except KeyError:
        return None
    import pyarrow.parquet as pq

    return list(pq.read_table(io.BytesIO(data), columns=list(columns)).to_pylist())


def find_footprint(store: ObjectStore, video_id: str) -> Footprint:
    """The video's pairs (records and Parquet index), its images, and other videos' pairs on them."""
    found = Footprint()
    for key in store.list(_parent(keys.pair_key(video_id, "p"))):
        try:
            record = get_json(store, key)
        except (KeyError, ValueError):
            continue
        found.pair_images[str(record.get("pair_id", key.rsplit("/", 1)[-1].removesuffix(".json")))] = str(
            record.get("image_id", ""))
        if image_owner(str(record.get("image", ""))) == video_id and record.get("image_id"):
            found.image_ids.add(str(record["image_id"]))
    for row in _parquet_rows(store, index_key(video_id), ("pair_id", "image_id", "image")) or []:
        found.pair_images.setdefault(str(row["pair_id"]), str(row["image_id"] or ""))
        if image_owner(str(row["image"] or "")) == video_id and row["image_id"]:
            found.image_ids.add(str(row["image_id"]))
    for key in store.list(_parent(keys.frame_key(video_id, "c"))):
        found.image_ids.add(key.rsplit("/", 1)[-1].removesuffix(".jpg").removesuffix("-fov"))
    return found


def find_masked(store: ObjectStore, video_id: str, image_ids: Iterable[str]) -> dict[str, set[str]]:
    """Other videos' pairs on the video's images, by the texts kept per image (every written pair leaves one)."""
    texts = ImageTexts(store, keys.IMAGE_TEXTS_PREFIX)
    masked: dict[str, set[str]] = {}
    for image_id in sorted(image_ids):
        for key in store.list(texts._folder(image_id)):
            try:
                entry = get_json(store, key)
            except (KeyError, ValueError):
                continue
            other = str(entry.get("video_id", ""))
            if other and other != video_id and entry.get("image_id") == image_id:
                masked.setdefault(other, set()).add(str(entry.get("pair_id", "")))
    return masked


def _digest(text: str) -> str:
    """quilt.stages.phash_index's name part: an entry's name is `<phash>.<digest(video)>.<digest(video, chunk)>`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def phash_entries(store: ObjectStore, video_id: str) -> list[str]:
    """The video's perceptual-hash index objects (one per band per image), confirmed by their bodies."""
    own = _digest(video_id)
    out = []
    for key in store.list(keys.PHASH_INDEX_PREFIX.rstrip("/") + "/"):
        parts = key.rsplit("/", 1)[-1].split(".")
        if len(parts) != 3 or parts[1] != own:
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
    texts = ImageTexts(store, keys.IMAGE_TEXTS_PREFIX)
    out: list[str] = []
    for image_id in sorted(footprint.image_ids):
        out.extend(store.list(texts._folder(image_id)))
    for pair, image_id in sorted(footprint.pair_images.items()):
        if image_id and image_id not in footprint.image_ids:
            key = f"{texts._folder(image_id)}{pair}.json"
            if store.exists(key):
                out.append(key)
    return sorted(set(out))


def _state_prefix() -> str:
    return _parent(_parent(keys.join_key("v", "frames")).rstrip("/"))  # state/aligner/


def _shows(chunk: Any, video_id: str, image_ids: set[str]) -> bool:
    """Whether a join state's chunk shows the video's picture (a repeat of it, or its frame key)."""
    return image_owner(chunk.chunk.image_key) == video_id or (chunk.chunk.duplicate_of in image_ids
                                                             and bool(chunk.chunk.duplicate_of))


def join_states_showing(store: ObjectStore, video_id: str, image_ids: set[str]) -> dict[str, bool]:
    """Other videos whose aligner join state shows the video's pictures -> whether one was kept (a pair)."""
    from quiltpb.v1 import messages_pb2 as pb

    out: dict[str, bool] = {}
    for key in store.list(_state_prefix()):
        other = key[len(_state_prefix()):].split("/")[0]
        if other == video_id or key != keys.join_key(other, "frames"):
            continue
        try:
            frames = pb.FilteredFrames.FromString(store.get_bytes(key))
        except KeyError:
            continue
        showing = [c for c in frames.chunks if _shows(c, video_id, image_ids)]
        if showing:
            out[other] = any(c.keep for c in showing)
    return out


def mask_join_state(store: ObjectStore, other: str, video_id: str, image_ids: set[str]) -> int:
    """Turn `other`'s chunks that show the video's pictures into rejected chunks without an image; how many."""
    from quiltpb.v1 import messages_pb2 as pb

    key = keys.join_key(other, "frames")
    try:
        frames = pb.FilteredFrames.FromString(store.get_bytes(key))
    except KeyError:
        return 0
    showing = [c for c in frames.chunks if _shows(c, video_id, image_ids)]
    for chunk in showing:  # still there for the aligner: the words said over it are dropped with it
        chunk.keep, chunk.histo_score = False, 0.0
        chunk.chunk.image_key, chunk.chunk.duplicate_of = "", ""
        chunk.ClearField("crop")
    if showing:
        store.put_bytes(key, frames.SerializeToString())
    return len(showing)


def video_objects(store: ObjectStore, video_id: str) -> list[str]:
    """Every object of the video itself: shards and index first, then each per-video folder."""
    found = shard_keys(store, video_id)
    if store.exists(index_key(video_id)):
        found.append(index_key(video_id))
    for prefix in video_prefixes(video_id):
        found.extend(store.list(prefix))
    return found


def _search_drop(row: dict[str, Any], video_id: str, pairs: set[str]) -> bool:
    return str(row.get("pair_id", "")) in pairs or image_owner(str(row.get("image", ""))) == video_id


def search_indexes(store: ObjectStore) -> list[str]:
    """The `index/clip/<version>/` folders that hold a pairs.json."""
    return sorted(_parent(k) for k in store.list(SEARCH_PREFIX) if k.endswith("/pairs.json"))


def search_rows(store: ObjectStore, video_id: str, pairs: set[str]) -> dict[str, int]:
    """Per search index folder, how many rows are the video's (or masked) pairs or show its images."""
    out = {}
    for base in search_indexes(store):
        rows = get_json(store, base + "pairs.json")
        drop = sum(_search_drop(row, video_id, pairs) for row in rows)
        if drop:
            out[base] = drop
    return out


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
        return dict(Counter(_group(key, self.video_id) for key in self.objects))

    def steps(self) -> int:
        return len(self.objects) + len(self.phash) + len(self.image_texts) + len(self.search) + len(
            set(self.footprint.masked) | set(self.states))


def _group(key: str, video_id: str) -> str:
    """The per-video prefix (or shard/index kind) a key of the video belongs to, for reports."""
    if key.startswith(shards_prefix()):
        return shards_prefix() + f"{video_id}-NNNNN.tar"
    for prefix in video_prefixes(video_id):
        if key.startswith(prefix):
            return prefix
    return key


def plan(store: ObjectStore, video_id: str) -> Plan:
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


# -- masking another video's pairs ------------------------------------------------------------------------

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


def mask_pairs(store: ObjectStore, other: str, drop: Callable[[PairRecord], bool]) -> tuple[set[str], int]:
    """Rewrite `other`'s shards and Parquet index without the pairs `drop` picks: (pair ids removed, shards written).

    Shards are read in order, each whole before any shard of that number is written again, and a
    pair only ever moves to a lower-numbered shard; so a crash midway leaves every kept pair in some
    shard (perhaps twice, until the rerun, which drops the repeat by pair id). The index is written
    last: while it still lists a masked pair, the rewrite has not finished and a rerun redoes it.
    """
    from quilt.writers import WebDatasetShardWriter

    rows = _parquet_rows(store, index_key(other), ("pair_id", "video_id", "image"))
    if rows is not None and not any(drop(_row_record(row)) for row in rows):
        return set(), 0  # the index is clean: nothing left to mask (or already masked)
    names = shard_keys(store, other)
    if rows is None and not names:
        return set(), 0
    removed: set[str] = set()
    writer: WebDatasetShardWriter | None = None
    for number, name in enumerate(names):
        members = _shard_members(store.get_bytes(name))
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


def _masker(video_id: str, pairs: set[str]) -> Callable[[PairRecord], bool]:
    """Which pairs of another video go: the ones found on the video's images, and any other showing them."""
    return lambda record: record.pair_id in pairs or image_owner(record.image) == video_id


def _row_record(row: dict[str, Any]) -> PairRecord:
    return PairRecord(pair_id=str(row["pair_id"]), video_id=str(row.get("video_id") or ""), source="",
                      image=str(row.get("image") or ""), t_start=0.0, t_end=0.0, text="", asr_text="",
                      histo_score=0.0)


def prune_search_index(store: ObjectStore, base: str, video_id: str, pairs: set[str]) -> int:
    """Drop the rows of one search index that are withdrawn; returns how many.

    The embeddings are written before pairs.json; a rerun after a crash between the two finds the
    embeddings already as long as the kept rows and only writes pairs.json.
    """
    import numpy as np

    rows = get_json(store, base + "pairs.json")
    keep = [i for i, row in enumerate(rows) if not _search_drop(row, video_id, pairs)]
    if len(keep) == len(rows):
        return 0
    embeddings = np.load(io.BytesIO(store.get_bytes(base + "embeddings.npy")))
    if len(embeddings) == len(rows):
        buffer = io.BytesIO()
        np.save(buffer, embeddings[keep].astype(np.float32))
        store.put_bytes(base + "embeddings.npy", buffer.getvalue())
    elif len(embeddings) != len(keep):
        raise TakedownError(f"search index {base} has {len(embeddings)} embeddings for {len(rows)} rows; rebuild it "
                            "(`quilt search --index-build`) and run the takedown again")
    put_json(store, base + "pairs.json", [rows[i] for i in keep])
    latest_key = SEARCH_PREFIX + "latest.json"
    try:
        latest = get_json(store, latest_key)
    except KeyError:
        latest = None
    if latest and base == f"{SEARCH_PREFIX}{latest.get('version')}/":
        put_json(store, latest_key, {**latest, "count": len(keep)})
    return len(rows) - len(keep)


# -- the takedown -----------------------------------------------------------------------------------------

@dataclass
class TakedownReport:
    video_id: str
    objects_deleted: int = 0  # the video's own objects, every per-video prefix, shards and index included
    pairs_deleted: int = 0  # the video's pair records
    shards_rewritten: int = 0  # shards written again, other videos' (masking)
    states_rewritten: int = 0  # other videos' aligner join states whose chunks showed its pictures
    pairs_masked_elsewhere: int = 0  # other videos' pairs on the video's images, removed
    index_entries_removed: int = 0  # phash + image-texts objects + search index rows
    tombstone_published: bool = False  # on the pair topic (by this run or an earlier one)
    deleted_by_prefix: dict[str, int] = field(default_factory=dict)
    masked_elsewhere: dict[str, list[str]] = field(default_factory=dict)  # other video -> pair ids masked
    already_done: bool = False  # the marker said "done" before this run
    state: str = "done"

    def counts(self) -> dict[str, int]:
        return {"objects_deleted": self.objects_deleted, "pairs_deleted": self.pairs_deleted,
                "shards_rewritten": self.shards_rewritten, "states_rewritten": self.states_rewritten,
                "pairs_masked_elsewhere": self.pairs_masked_elsewhere,
                "index_entries_removed": self.index_entries_removed}


def takedown(store: ObjectStore, video_id: str, *, reason: str = "", publish: Publish | None = None,
             now: Callable[[], str] = now_iso, progress: Progress | None = None,
             planned: Plan | None = None) -> TakedownReport:
    """Withdraw `video_id` (see the module doc for the steps and their order). Idempotent and retry-safe.

    `publish(video_id)` produces the tombstone (see `kafka_publisher`); None publishes none, and the
    marker remembers that, so a later run with a publisher still sends it. `planned` is a plan made
    just before (by `plan`), to save listing the bucket twice.
    """
    check_video_id(video_id)
    current = planned if planned is not None and planned.video_id == video_id else plan(store, video_id)
    footprint = current.footprint
    earlier = current.marker or {}
    report = TakedownReport(video_id, already_done=earlier.get("state") == "done",
                            tombstone_published=bool(earlier.get("tombstone_published")))
    before = Counter({k: int(v) for k, v in earlier.get("counts", {}).items()})
    marker = {"video_id": video_id, "reason": reason or earlier.get("reason", ""),
              "requested_at": earlier.get("requested_at") or now(), "state": "started",
              "tombstone_published": report.tombstone_published, "footprint": footprint.to_json()}

    def save_marker(state: str = "started") -> None:
        marker.update(state=state, updated_at=now(), tombstone_published=report.tombstone_published,
                      counts=dict(before + Counter(report.counts())), footprint=footprint.to_json())
        if state == "done":
            marker["done_at"] = marker["updated_at"]
        put_json(store, marker_key(video_id), marker)

    done, total = 0, current.steps()

    def step(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(what, done, max(total, done))

    # 1. The marker, before anything is touched.
    save_marker()
    # 2. The tombstone.
    if publish is not None and not report.tombstone_published:
        publish(video_id)
        report.tombstone_published = True
        save_marker()
    # 3. Other videos' pairs on the video's images, and their join states.
    for other in sorted((set(footprint.masked) | set(current.states)) - {video_id}):
        wanted = set(footprint.masked.get(other, ()))
        removed, written = mask_pairs(store, other, _masker(video_id, wanted))
        if wanted or removed:
            footprint.masked[other] = wanted | removed
        records = {p for p in wanted | removed if store.exists(keys.pair_key(other, p))}
        for pair in records:
            store.delete(keys.pair_key(other, pair))
        gone = removed | records
        if gone:
            report.masked_elsewhere[other] = sorted(gone)
        report.pairs_masked_elsewhere += len(gone)
        report.shards_rewritten += written
        report.states_rewritten += bool(mask_join_state(store, other, video_id, footprint.image_ids))
        step(f"masked {other}")
    save_marker()
    # 4. Index entries.
    for key in current.phash + current.image_texts:
        store.delete(key)
        report.index_entries_removed += 1
        step("index entries")
    withdrawn_pairs = set(footprint.pair_images) | footprint.masked_ids()
    for base in sorted(current.search):
        report.index_entries_removed += prune_search_index(store, base, video_id, withdrawn_pairs)
        step("search index")
    save_marker()
    # 5. The video's own objects; then a sweep for what a still-running stage wrote since the plan.
    deleted: Counter[str] = Counter()
    pair_prefix = _parent(keys.pair_key(video_id, "p"))
    for key in current.objects:
        store.delete(key)
        deleted[_group(key, video_id)] += 1
        report.pairs_deleted += key.startswith(pair_prefix)
        step("objects")
    for key in video_objects(store, video_id):
        store.delete(key)
        deleted[_group(key, video_id)] += 1
        report.pairs_deleted += key.startswith(pair_prefix)
    report.objects_deleted = sum(deleted.values())
    report.deleted_by_prefix = dict(sorted(deleted.items()))
    # 6. Done.
    save_marker("done")
    return report
