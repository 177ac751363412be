"""Deterministic ids, so every step can be retried without creating duplicates."""

from __future__ import annotations

import hashlib
import re

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


def short_hash(*parts: str, length: int = 16) -> str:
    """A stable hex digest of the parts (joined with a separator that cannot occur in them)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def video_id_for_youtube(youtube_id: str) -> str:
    if not _YOUTUBE_ID.match(youtube_id):
        raise ValueError(f"not a YouTube video id: {youtube_id!r}")
    return f"yt-{youtube_id}"


def video_id_for_content(sha256_hex: str) -> str:
    """Id of a video known by its bytes: the same file submitted twice is one video."""
    return f"v-{sha256_hex[:16]}"


def chunk_id(video_id: str, t_start: float, t_end: float) -> str:
    return f"{video_id}-c{int(round(t_start * 1000)):08d}-{int(round(t_end * 1000)):08d}"


def region_chunk_id(frame_chunk_id: str, number: int) -> str:
    """The image id of a key frame's `number`-th other histology picture (1-based, in reading order)."""
    return f"{frame_chunk_id}-r{number}"


def region_pair_id(frame_pair_id: str, region_image_id: str) -> str:
    """The pair of another picture of the same frame with the same text: the frame pair's id and that picture's."""
    return f"p-{short_hash(frame_pair_id, region_image_id, length=20)}"


def pair_id(video_id: str, t_start: float, t_end: float, text: str) -> str:
    """Same video, same image interval and same text give the same pair id."""
    interval = f"{t_start:.3f}-{t_end:.3f}"
    return f"p-{short_hash(video_id, interval, text.strip(), length=20)}"
