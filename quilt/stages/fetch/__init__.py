"""Fetch stage: a source (local file, http(s) URL, s3://bucket/key, YouTube video) -> the video file on local disk.

`fetch_video` is the stage's one entry point, called by the fetcher service and by `quilt process`.
Every download passes the address guard (net_guard: no loopback, private or link-local address unless
allowed) and the size limit; local files must lie in the allowed folders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quilt.adapters.store import ObjectStore
from quilt.core.types import StageError
from quilt.stages.common.media_limits import DEFAULT_MAX_BYTES
from quilt.stages.fetch.net_guard import parse_allow
from quilt.stages.fetch.sources import (
    FetchedFile,
    Source,
    fetch,
    list_videos,
    parse_source,
    s3_store_for,
    video_id_for,
)

__all__ = ["FetchParams", "FetchedFile", "Source", "fetch_video", "list_videos", "parse_allow", "parse_source",
           "s3_store_for", "video_id_for"]


@dataclass(frozen=True)
class FetchParams:
    max_bytes: int | None = DEFAULT_MAX_BYTES  # None: no size limit
    allow: tuple[str, ...] = ()  # non-public hosts, IPs or CIDR blocks http(s) sources may use (see net_guard)
    local_roots: tuple[str, ...] | None = None  # folders local files must lie in; None = anywhere, () = nowhere


def fetch_video(source: Source, dest_dir: Path, params: FetchParams,
                s3_for: Callable[[Source], ObjectStore] | None = None) -> FetchedFile:
    """Bring the video `source` names into `dest_dir`; `s3_for` opens the bucket of an s3:// source.

    StageError for a source that cannot be fetched (blocked address or path, too large, not a video, gone).
    """
    if source.kind == "s3" and s3_for is None:
        raise StageError("bad_source", f"{source.uri}: s3:// sources need S3 settings (QUILT_S3_*)")
    s3 = s3_for(source) if source.kind == "s3" and s3_for is not None else None
    return fetch(source, Path(dest_dir), s3=s3, max_bytes=params.max_bytes, allow=params.allow,
                 local_roots=params.local_roots)
