"""Object keys in the bucket. Deterministic, so a retried step overwrites its own output."""

from __future__ import annotations


def video_key(video_id: str, suffix: str) -> str:
    return f"videos/{video_id}/source{suffix or '.bin'}"


def frame_key(video_id: str, chunk_id: str) -> str:
    return f"frames/{video_id}/{chunk_id}.jpg"


def audio_window_key(video_id: str, index: int) -> str:
    return f"audio/{video_id}/{index:05d}.f32"


def pair_key(video_id: str, pair_id: str) -> str:
    return f"pairs/records/{video_id}/{pair_id}.json"


def join_key(video_id: str, part: str) -> str:
    """Where the aligner parks one half of a video until the other half arrives."""
    return f"state/aligner/{video_id}/{part}.pb"


PAIRS_PREFIX = "pairs"
PHASH_INDEX_PREFIX = "index/phash"
IMAGE_TEXTS_PREFIX = "index/image-texts"
