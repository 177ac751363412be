"""Per-stage counts and throughput from the status documents, for `quilt status`.

Every stage writes `status/<video>/<stage>.json` with its state, the seconds it spent and when.
Throughput is video seconds handled per second of that stage's work (the realtime factor one
replica achieves), plus how many videos each stage finished in the last `window_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class StageThroughput:
    stage: str
    done: int
    running: int  # running or waiting (the aligner waits for its second half)
    failed: int
    busy_s: float  # seconds of work over the done videos
    video_s: float  # seconds of video those videos hold
    recent: int  # videos done within the window

    @property
    def realtime(self) -> float:
        """Video seconds per second of work; 0 when nothing is done yet."""
        return self.video_s / self.busy_s if self.busy_s > 0 else 0.0


def _parse(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stage_throughput(videos: dict[str, dict[str, dict[str, Any]]], stages: tuple[str, ...],
                     now: datetime, window_s: float = 600.0) -> list[StageThroughput]:
    """`videos` maps video id -> stage -> status document (as `read_video_status` returns them)."""
    out = []
    for stage in stages:
        done = running = failed = recent = 0
        busy = video = 0.0
        for entries in videos.values():
            entry = entries.get(stage)
            if not entry:
                continue
            state = entry.get("state")
            if state == "done":
                done += 1
                busy += float(entry.get("seconds") or 0.0)
                video += float((entries.get("decoder", {}).get("detail") or {}).get("duration_s") or 0.0)
                when = _parse(str(entry.get("updated_at", "")))
                recent += when is not None and (now - when).total_seconds() <= window_s
            elif state == "failed":
                failed += 1
            else:
                running += 1
        out.append(StageThroughput(stage, done, running, failed, round(busy, 3), round(video, 3), recent))
    return out
