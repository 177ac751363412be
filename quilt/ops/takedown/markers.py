"""What every component needs to know about takedowns: which videos are withdrawn, and what a tombstone is.

The trainer and the fetcher import this module alone, so it imports nothing heavy (no Kafka, no
writers, no numpy): the store protocol and the bucket keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from quilt.adapters.store import ObjectStore, get_json
from quilt.core import keys
from quilt.core.keys import TAKEDOWN_PREFIX as TAKEDOWN_PREFIX
from quilt.core.keys import image_owner as image_owner

TOMBSTONE_HEADER = "quilt-tombstone"
TOMBSTONE_VIDEO = b"video"
_VIDEO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class TakedownError(RuntimeError):
    """The takedown cannot go on (a bad id, an inconsistent index); the message says what to do."""


def check_video_id(video_id: str) -> str:
    if not _VIDEO_ID.fullmatch(video_id or "") or ".." in video_id:
        raise TakedownError(f"not a video id: {video_id!r} (letters, digits, '_', '-' and '.')")
    return video_id


def marker_key(video_id: str) -> str:
    return keys.takedown_marker_key(video_id)


def read_marker(store: ObjectStore, video_id: str) -> dict[str, Any] | None:
    try:
        return dict(get_json(store, marker_key(video_id)))
    except KeyError:
        return None


def is_taken_down(store: ObjectStore, video_id: str) -> bool:
    """True from the moment a takedown is requested (state "started" too): withdrawal wins."""
    return store.exists(marker_key(video_id))


def taken_down_videos(store: ObjectStore) -> set[str]:
    return {video for key in store.list(TAKEDOWN_PREFIX) if (video := keys.takedown_marker_video(key)) is not None}


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
