"""Per-video, per-stage progress objects in the bucket, read by `quilt status`."""

from __future__ import annotations

from typing import Any

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.core import keys
from quilt.core.keys import status_key as status_key  # its callers import it from here
from quilt.core.time_util import now_iso

STAGES = ("fetcher", "decoder", "asr", "denoiser", "histo_filter", "aligner")


def write_status(store: ObjectStore, video_id: str, stage: str, state: str, reason: str = "",
                 message: str = "", detail: dict[str, Any] | None = None, seconds: float = 0.0) -> None:
    put_json(store, status_key(video_id, stage), {
        "video_id": video_id, "stage": stage, "state": state, "reason": reason, "message": message,
        "detail": detail or {}, "seconds": round(seconds, 3), "updated_at": now_iso(),
    })


def read_video_status(store: ObjectStore, video_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for key in store.list(keys.status_folder(video_id)):
        found[keys.status_stage(key)] = get_json(store, key)
    return found


def list_status_videos(store: ObjectStore) -> list[str]:
    return sorted({video for key in store.list(keys.STATUS_PREFIX) if (video := keys.status_video(key)) is not None})
