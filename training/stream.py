"""What happens to each pair before it is trained: quality filter, dedup by pair id, held-out split, replay,
and the exclusion of withdrawn (taken-down) videos."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quilt.core.records import PairRecord
from quilt.ops.takedown.markers import withdrawn

from .config import StreamConfig


@dataclass(frozen=True)
class TrainPair:
    """The little the trainer needs of a pair; small enough to keep thousands in the replay reservoir."""
    pair_id: str
    image: str  # bucket key of the JPEG
    text: str
    label: str = ""  # first sub_pathology, for zero-shot evaluation; empty = unknown
    video_id: str = ""  # for takedowns; empty in checkpoints written before it was kept (the image key still tells)

    @classmethod
    def of(cls, record: PairRecord) -> TrainPair:
        return cls(record.pair_id, record.image, record.text, record.sub_pathology[0] if record.sub_pathology else "",
                   record.video_id)

    def to_list(self) -> list[str]:
        return [self.pair_id, self.image, self.text, self.label, self.video_id]

    @classmethod
    def from_list(cls, values: list[str]) -> TrainPair:
        """From `to_list`'s values; an older checkpoint's four (no video id) still load."""
        return cls(*values)

    def withdrawn(self, excluded: set[str] | frozenset[str]) -> bool:
        """Taken down: its video is, or the video whose frames hold its image (see quilt/ops/takedown/)."""
        return withdrawn(self.video_id, self.image, excluded)


def passes_quality(record: PairRecord, config: StreamConfig) -> bool:
    return (record.histo_score >= config.min_histo_score and record.align_score >= config.min_align_score
            and bool(record.text.strip()) and bool(record.image))


def is_held_out(pair_id: str, percent: float) -> bool:
    """A stable choice by pair id, so every run (and every restart) keeps the same pairs out of training."""
    bucket = int.from_bytes(hashlib.sha1(pair_id.encode("utf-8")).digest()[:4], "big") % 10_000
    return bucket < percent * 100


class Reservoir:
    """Uniform sample of every pair offered so far (Vitter's algorithm R), seeded so runs repeat."""

    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity = capacity
        self.items: list[TrainPair] = []
        self.offered = 0
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.items)

    def offer(self, item: TrainPair) -> None:
        self.offered += 1
        if self.capacity <= 0:
            return
        if len(self.items) < self.capacity:
            self.items.append(item)
            return
        slot = self._rng.randrange(self.offered)
        if slot < self.capacity:
            self.items[slot] = item

    def remove(self, drop: Callable[[TrainPair], bool]) -> int:
        """Take the pairs `drop` picks out of the reservoir (a takedown); returns how many. `offered` stays."""
        kept = [item for item in self.items if not drop(item)]
        removed = len(self.items) - len(kept)
        self.items = kept
        return removed

    def sample(self, n: int) -> list[TrainPair]:
        """`n` distinct past pairs (fewer if the reservoir holds fewer)."""
        return self._rng.sample(self.items, min(n, len(self.items)))

    def state(self) -> dict[str, Any]:
        version, internal, gauss = self._rng.getstate()
        return {"capacity": self.capacity, "offered": self.offered, "items": [i.to_list() for i in self.items],
                "rng": [version, list(internal), gauss]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Reservoir:
        reservoir = cls(int(state["capacity"]), 0)
        reservoir.offered = int(state["offered"])
        reservoir.items = [TrainPair.from_list(i) for i in state["items"]]
        version, internal, gauss = state["rng"]
        reservoir._rng.setstate((version, tuple(internal), gauss))
        return reservoir
