"""The takedown itself: the steps of the package doc, in order, each idempotent, so a rerun completes a crashed one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from quilt.adapters.store import ObjectStore, put_json
from quilt.core import keys, topics
from quilt.core.time_util import now_iso

from .footprint import video_objects
from .markers import TOMBSTONE_HEADER, TOMBSTONE_VIDEO, check_video_id, marker_key
from .masking import mask_join_state, mask_pairs, masker, prune_search_index
from .planning import Plan, group_of, plan

if TYPE_CHECKING:
    from quilt.adapters.config import Settings

Progress = Callable[[str, int, int], None]  # (what, done, total)
Publish = Callable[[str], None]


def publish_tombstone(settings: Settings, video_id: str, timeout_s: float = 30.0) -> None:
    """Produce the video's tombstone on the pair topic and wait for the broker's acknowledgement."""
    from kafka import KafkaProducer

    from quilt.adapters.kafka_client import kafka_python_options  # here: importing the package loads no Kafka code

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
    quarantined: list[str] = field(default_factory=list)  # unreadable objects moved to quarantine/ on the way
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
    """Withdraw `video_id` (see the package doc for the steps and their order). Idempotent and retry-safe.

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
        removed, written = mask_pairs(store, other, masker(video_id, wanted), report.quarantined)
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
    pair_prefix = keys.pair_records_folder(video_id)
    for key in current.objects:
        store.delete(key)
        deleted[group_of(key, video_id)] += 1
        report.pairs_deleted += key.startswith(pair_prefix)
        step("objects")
    for key in video_objects(store, video_id):
        store.delete(key)
        deleted[group_of(key, video_id)] += 1
        report.pairs_deleted += key.startswith(pair_prefix)
    report.objects_deleted = sum(deleted.values())
    report.deleted_by_prefix = dict(sorted(deleted.items()))
    # 6. Done.
    save_marker("done")
    return report
