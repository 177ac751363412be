"""Accounting for the fault suite: which pairs were expected, which are in the bucket, how each video ended.

Expected pairs come from `quilt process` on the same files (the same stage code in one process, no
faults), keyed by pair id, which is deterministic. After the faults:
  lost        expected pairs missing from the bucket
  duplicated  pair records beyond the first for one (video, image, text), plus records the
              no-fault run did not make (a retry that paired differently would show up here)
  stuck       videos that neither finished (aligner done) nor failed with a reason on the
              dead-letter topic and in their status
Redelivered pair-topic messages (at-least-once) are counted apart: consumers dedupe by pair id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VideoEnd:
    video_id: str
    finished: bool  # the aligner's status is done
    failed_stage: str = ""  # the stage whose status is failed, if any
    failed_reason: str = ""
    letter_reasons: tuple[str, ...] = ()  # reasons of this video's dead letters
    has_status: bool = True

    @property
    def failed_with_reason(self) -> bool:
        # A message whose key cannot name a video has no status object: its dead letter is the whole record.
        return bool(self.letter_reasons) and (bool(self.failed_reason) or not self.has_status)

    @property
    def stuck(self) -> bool:
        return not self.finished and not self.failed_with_reason


@dataclass
class VideoAccount:
    video_id: str
    expected: int
    found: int
    lost: list[str] = field(default_factory=list)
    duplicated: int = 0
    unexpected: list[str] = field(default_factory=list)
    topic_messages: int = 0

    @property
    def clean(self) -> bool:
        return not self.lost and not self.duplicated and not self.unexpected


def account(video_id: str, expected_ids: Iterable[str], records: Iterable[Mapping[str, Any]],
            topic_messages: int = 0) -> VideoAccount:
    """Compare one video's pair records in the bucket with the pair ids the no-fault run made."""
    expected = set(expected_ids)
    rows = list(records)
    ids = Counter(str(r["pair_id"]) for r in rows)
    content = Counter((str(r.get("image", "")), " ".join(str(r.get("text", "")).split())) for r in rows)
    duplicated = sum(n - 1 for n in ids.values() if n > 1) + sum(n - 1 for n in content.values() if n > 1)
    return VideoAccount(video_id, expected=len(expected), found=len(ids), lost=sorted(expected - set(ids)),
                        duplicated=duplicated, unexpected=sorted(set(ids) - expected), topic_messages=topic_messages)


@dataclass
class Totals:
    faults: int = 0
    bad_inputs: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    unexpected: int = 0
    mismatched: list[str] = field(default_factory=list)  # bad inputs that did not end as the case expects

    def add(self, accounts: Iterable[VideoAccount], ends: Iterable[VideoEnd]) -> None:
        for item in accounts:
            self.lost += len(item.lost)
            self.duplicated += item.duplicated
            self.unexpected += len(item.unexpected)
        self.stuck += sum(end.stuck for end in ends)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.stuck or self.unexpected or self.mismatched)

    def line(self) -> str:
        return (f"faults: injected={self.faults} bad_inputs={self.bad_inputs} lost={self.lost} "
                f"duplicated={self.duplicated} stuck={self.stuck}")
