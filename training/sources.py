"""Where finished pairs come from: the Kafka pair topic, or a folder "topic" of JSONL partitions for tests.

Both read by hand-assigned partitions: the trainer keeps {partition: next offset} inside its
checkpoint, next to the model state it produced, so a restart seeks to exactly the pairs the
restored model has not seen (no pair skipped, none trained twice). Under torchrun each rank reads
only the partitions it owns (training/distributed.py). The Kafka source also commits its offsets
to the `quilt-trainer` group after each checkpoint, so `quilt status` shows the trainer's lag;
the broker's copy is for operators only, never read back.

A takedown (quilt/ops/takedown/) puts a tombstone on the pair topic: key = video id, no value, header
`quilt-tombstone`. Both sources hand it on as a `SourcedPair` with `tombstone_video_id` set and no
record; in a folder topic the line `{"tombstone": "<video_id>"}` means the same. It takes an offset
like a pair, so the offsets in a checkpoint still count every record exactly once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from quilt.core.records import PairRecord

from .distributed import owns_partition

TRAINER_GROUP = "quilt-trainer"


@dataclass(frozen=True)
class SourcedPair:
    partition: int
    offset: int
    record: PairRecord | None  # None for a tombstone
    tombstone_video_id: str = ""  # set for a tombstone: the video withdrawn by a takedown

    @property
    def is_tombstone(self) -> bool:
        return self.record is None

    @classmethod
    def tombstone(cls, partition: int, offset: int, video_id: str) -> SourcedPair:
        return cls(partition, offset, None, video_id)


class PairSource(Protocol):
    def seek(self, offsets: dict[int, int]) -> None:
        """Continue each partition at its offset; partitions not named start at the beginning."""

    def poll(self, max_records: int, timeout_s: float) -> list[SourcedPair]:
        """Up to `max_records` next pairs; an empty list when nothing arrived within `timeout_s`."""

    def commit(self, offsets: dict[int, int]) -> None:
        """Tell the broker how far training got (for lag reports; the checkpoint stays authoritative)."""

    def close(self) -> None: ...


class FolderPairSource:
    """A folder with `partition-<N>.jsonl` files, one pair record per line; the line index is the offset."""

    def __init__(self, folder: Path, rank: int = 0, world_size: int = 1) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"pair folder {self.folder} does not exist")
        self.rank, self.world_size = rank, world_size
        self._next: dict[int, int] = {}
        self._lines: dict[int, list[str]] = {}

    def _partitions(self) -> list[int]:
        found = (int(p.stem.split("-", 1)[1]) for p in self.folder.glob("partition-*.jsonl"))
        return sorted(p for p in found if owns_partition(p, self.rank, self.world_size))

    def _refresh(self) -> None:
        # Re-read so pairs appended while the job runs are seen (a folder can be a live stream too).
        for partition in self._partitions():
            text = (self.folder / f"partition-{partition}.jsonl").read_text(encoding="utf-8")
            lines = text.splitlines()
            if text and not text.endswith("\n"):
                lines = lines[:-1]  # a line still being written
            self._lines[partition] = lines
            self._next.setdefault(partition, 0)

    def seek(self, offsets: dict[int, int]) -> None:
        self._next = {int(p): int(o) for p, o in offsets.items()}

    def commit(self, offsets: dict[int, int]) -> None:
        pass  # a folder has no broker to tell

    def poll(self, max_records: int, timeout_s: float = 0.0) -> list[SourcedPair]:
        self._refresh()
        out: list[SourcedPair] = []
        # Round-robin over partitions so one long partition does not starve the others.
        while len(out) < max_records:
            progressed = False
            for partition, lines in self._lines.items():
                offset = self._next.get(partition, 0)
                if offset < len(lines) and len(out) < max_records:
                    out.append(_folder_item(partition, offset, json.loads(lines[offset])))
                    self._next[partition] = offset + 1
                    progressed = True
            if not progressed:
                break
        if not out and timeout_s > 0:
            time.sleep(timeout_s)  # like a broker poll: wait before saying nothing arrived
        return out

    def close(self) -> None:
        pass


def _folder_item(partition: int, offset: int, data: dict[str, Any]) -> SourcedPair:
    if "tombstone" in data and "pair_id" not in data:
        return SourcedPair.tombstone(partition, offset, str(data["tombstone"]))
    return SourcedPair(partition, offset, PairRecord.from_dict(data))


def write_folder_tombstone(folder: Path, video_id: str, partition: int = 0) -> None:
    """Append a takedown's tombstone for `video_id` to one partition of a folder topic (tests)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    with (Path(folder) / f"partition-{partition}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"tombstone": video_id}) + "\n")


def write_folder_topic(folder: Path, records: Iterable[PairRecord], partitions: int = 2) -> None:
    """Append records to a folder topic, spread over partitions by their order (tests, the bench)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handles = [(folder / f"partition-{p}.jsonl").open("a", encoding="utf-8") for p in range(partitions)]
    try:
        for i, record in enumerate(records):
            handles[i % partitions].write(json.dumps(record.to_dict()) + "\n")
    finally:
        for handle in handles:
            handle.close()


class KafkaPairSource:
    """The pair topic (protobuf `quiltpb.v1.Pair` values) with every partition assigned by hand.

    kafka-python's group consumer can hang joining the embedded broker (STACK.md), and the
    offsets belong in the checkpoint anyway, so the group is never joined: offsets are only
    committed to it, by `commit`, for the lag that `quilt status` reports.
    """

    def __init__(self, bootstrap: str, topic: str, rank: int = 0, world_size: int = 1,
                 group: str = TRAINER_GROUP, options: dict[str, Any] | None = None) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.topic = topic
        self.bootstrap = bootstrap
        self.group = group
        self.options = {"bootstrap_servers": bootstrap, **(options or {})}  # TLS / SASL: kafka_client.py
        self._consumer: Any = KafkaConsumer(**self.options, enable_auto_commit=False,
                                            group_id=None, max_poll_records=500)
        known = self._consumer.partitions_for_topic(topic)
        if not known:
            self._consumer.close()
            raise RuntimeError(f"topic {topic!r} does not exist on {bootstrap}")
        self._partitions = [TopicPartition(topic, p) for p in sorted(known) if owns_partition(p, rank, world_size)]
        self._consumer.assign(self._partitions)
        if self._partitions:
            self._consumer.seek_to_beginning(*self._partitions)

    def seek(self, offsets: dict[int, int]) -> None:
        for tp in self._partitions:
            if tp.partition in offsets:
                self._consumer.seek(tp, int(offsets[tp.partition]))
            else:
                self._consumer.seek_to_beginning(tp)

    def poll(self, max_records: int, timeout_s: float) -> list[SourcedPair]:
        from quilt.adapters.wire import pair_from_pb
        from quilt.ops.takedown.markers import tombstone_of
        from quiltpb.v1 import messages_pb2 as pb

        if not self._partitions:  # more ranks than partitions: this one only trains what others share
            time.sleep(timeout_s)
            return []
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        out = []
        for tp, messages in batches.items():
            for message in messages:
                withdrawn = tombstone_of(message.key, message.value, message.headers)
                if withdrawn is not None:
                    out.append(SourcedPair.tombstone(tp.partition, message.offset, withdrawn))
                else:
                    out.append(SourcedPair(tp.partition, message.offset,
                                           pair_from_pb(pb.Pair.FromString(message.value))))
        return out

    def commit(self, offsets: dict[int, int]) -> None:
        from quilt.ops.lag import commit_group_offsets

        mine = {tp.partition: offsets[tp.partition] for tp in self._partitions if tp.partition in offsets}
        if mine:
            commit_group_offsets(self.bootstrap, self.group, self.topic, mine, options=self.options)

    def close(self) -> None:
        self._consumer.close()
