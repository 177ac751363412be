"""Turn a user-supplied source (path, URL, s3:// key, YouTube link) into a local video file.

Pure with respect to the environment: object stores are passed in, and yt-dlp
is only ever driven through options built by `ytdlp_options`.

http(s) downloads go through net_guard: loopback, link-local, private and other non-public
addresses are refused (StageError "blocked_address"), redirects included, unless allowlisted
with `allow`. A download that is plainly not media (an HTML page, JSON, text) is refused as
"not_a_video" rather than handed to the decoder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

from quilt.adapters.store import ObjectStore, S3Store
from quilt.core.ids import short_hash, video_id_for_youtube
from quilt.core.types import StageError
from quilt.stages.common.media_limits import DEFAULT_MAX_BYTES, NOT_A_VIDEO, SNIFF_BYTES, sniff_non_video
from quilt.stages.fetch.net_guard import Allowlist, open_url

log = logging.getLogger(__name__)

KINDS = ("file", "http", "s3", "youtube_video", "youtube_playlist", "youtube_channel")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v")
CHUNK_BYTES = 1024 * 1024

Progress = Callable[[int, int | None], None]

_YT_ID = r"[A-Za-z0-9_-]{11}"
_YT_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
_YT_VIDEO_PATH = re.compile(rf"^/(?:shorts|embed|live|v)/({_YT_ID})/?$")
_YT_HANDLE_PATH = re.compile(r"^/(@[A-Za-z0-9._-]{1,100})(?:/(?:videos|featured|streams|shorts))?/?$")
_YT_CHANNEL_PATH = re.compile(r"^/channel/(UC[A-Za-z0-9_-]{10,})(?:/[a-z]+)?/?$")
_YT_LEGACY_PATH = re.compile(r"^/(c|user)/([A-Za-z0-9._-]{1,100})(?:/[a-z]+)?/?$")
_YT_PLAYLIST_ID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class Source:
    kind: str
    uri: str  # normalised: absolute path for files, canonical URL for YouTube
    bucket: str = ""
    key: str = ""  # may be a prefix (ending in "/") when the source is listed, not fetched
    youtube_id: str = ""


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    size_bytes: int
    sha256: str
    title: str


def _bad(text: str, why: str) -> StageError:
    return StageError("bad_source", f"cannot use {text!r} as a video source: {why}")


def _parse_youtube(text: str, parts: urllib.parse.SplitResult) -> Source:
    host = parts.netloc.lower()
    path = parts.path
    query = urllib.parse.parse_qs(parts.query)
    if host == "youtu.be":
        match = re.fullmatch(rf"/({_YT_ID})/?", path)
        if not match:
            raise _bad(text, "youtu.be link without a valid video id")
        return _youtube_video(match.group(1))
    if path in ("/watch", "/watch/"):
        # A watch link inside a playlist (&list=) still means that one video.
        vid = (query.get("v") or [""])[0]
        if not re.fullmatch(_YT_ID, vid):
            raise _bad(text, "watch link without a valid v= video id")
        return _youtube_video(vid)
    if match := _YT_VIDEO_PATH.match(path):
        return _youtube_video(match.group(1))
    if path in ("/playlist", "/playlist/"):
        list_id = (query.get("list") or [""])[0]
        if not _YT_PLAYLIST_ID.match(list_id):
            raise _bad(text, "playlist link without a valid list= id")
        return Source("youtube_playlist", f"https://www.youtube.com/playlist?list={list_id}")
    if match := _YT_HANDLE_PATH.match(path):
        return Source("youtube_channel", f"https://www.youtube.com/{match.group(1)}")
    if match := _YT_CHANNEL_PATH.match(path):
        return Source("youtube_channel", f"https://www.youtube.com/channel/{match.group(1)}")
    if match := _YT_LEGACY_PATH.match(path):
        return Source("youtube_channel", f"https://www.youtube.com/{match.group(1)}/{match.group(2)}")
    raise _bad(text, "unrecognised YouTube link (expected a video, playlist or channel)")


def _youtube_video(youtube_id: str) -> Source:
    return Source("youtube_video", f"https://www.youtube.com/watch?v={youtube_id}", youtube_id=youtube_id)


def parse_source(text: str) -> Source:
    """Classify and normalise a source; raises StageError("bad_source" | "not_found")."""
    raw = text.strip()
    if not raw:
        raise _bad(text, "empty")
    lowered = raw.lower()
    # People paste YouTube links without the scheme; give them one.
    if re.match(r"^(?:www\.|m\.|music\.)?(?:youtube\.com|youtu\.be)/", lowered):
        raw = "https://" + raw
        lowered = raw.lower()
    if lowered.startswith("s3://"):
        bucket, _, key = raw[5:].partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise _bad(text, "s3:// URI needs a valid bucket name")
        return Source("s3", f"s3://{bucket}/{key}", bucket=bucket, key=key)
    if lowered.startswith(("http://", "https://")):
        parts = urllib.parse.urlsplit(raw)
        if not parts.hostname:
            raise _bad(text, "URL without a host")
        if parts.netloc.lower() in _YT_HOSTS or parts.netloc.lower() == "youtu.be":
            return _parse_youtube(text, parts)
        return Source("http", raw)
    if lowered.startswith("file://"):
        raw = urllib.parse.unquote(urllib.parse.urlsplit(raw).path)
    elif _SCHEME.match(raw):
        raise _bad(text, "unsupported scheme (use a path, http(s)://, s3:// or a YouTube link)")
    path = Path(raw).expanduser().absolute()
    if not path.exists():
        raise StageError("not_found", f"no such file or folder: {path}")
    return Source("file", str(path.resolve()))


def video_id_for(source: Source) -> str:
    """Deterministic video id, so resubmitting the same source never duplicates work."""
    if source.kind == "youtube_video":
        return video_id_for_youtube(source.youtube_id)
    if source.kind in ("youtube_playlist", "youtube_channel"):
        raise ValueError(f"{source.kind} is a list of videos, not a video: {source.uri}")
    return "v-" + short_hash(source.uri)


def s3_store_for(source: Source, endpoint: str, access_key: str, secret_key: str,
                 secure: bool = False) -> S3Store:
    if source.kind != "s3":
        raise ValueError(f"not an s3 source: {source.uri}")
    return S3Store(endpoint, access_key, secret_key, source.bucket, secure=secure)


def ytdlp_options(dest_dir: Path, *, socket_timeout: float = 30, retries: int = 3,
                  can_merge: bool = True, max_bytes: int | None = DEFAULT_MAX_BYTES,
                  progress: Progress | None = None) -> dict[str, Any]:
    """yt-dlp options: mp4 up to 720p with audio, named by video id, silent on stdout."""
    if can_merge:
        # 720p is enough to read slides; separate streams need ffmpeg to merge.
        fmt = ("bv*[height<=720][ext=mp4]+ba[ext=m4a]/b[height<=720][ext=mp4]"
               "/bv*[height<=720]+ba/b[height<=720]/b")
    else:
        # Without ffmpeg only progressive formats (video+audio in one file) are usable.
        fmt = "b[height<=720][ext=mp4]/b[height<=720]/b"
    opts: dict[str, Any] = {
        "format": fmt,
        "merge_output_format": "mp4",
        "outtmpl": {"default": str(Path(dest_dir) / "yt-%(id)s.%(ext)s")},
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _YtdlpLogger(),
        "retries": retries,
        "fragment_retries": retries,
        "extractor_retries": retries,
        "socket_timeout": socket_timeout,
        "cachedir": False,  # no writes outside dest_dir
        "continuedl": True,
    }
    if max_bytes is not None:
        opts["max_filesize"] = max_bytes
    if progress is not None:
        opts["progress_hooks"] = [_ytdlp_hook(progress)]
    return opts


class _YtdlpLogger:
    """Routes yt-dlp's chatter to logging: its stdout belongs to the caller (CLI output)."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)


def _ytdlp_hook(progress: Progress) -> Callable[[dict[str, Any]], None]:
    def hook(status: dict[str, Any]) -> None:
        if status.get("status") in ("downloading", "finished"):
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            progress(int(status.get("downloaded_bytes") or 0), int(total) if total else None)

    return hook


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _too_large(what: str, size: int | None, max_bytes: int) -> StageError:
    amount = f"is {size} bytes, " if size is not None else ""
    return StageError("too_large", f"{what} {amount}over the limit of {max_bytes} bytes (setting max_bytes)")


def _not_a_video(what: str, kind: str, content_type: str = "") -> StageError:
    served = f", served as {content_type}" if content_type else ""
    return StageError(NOT_A_VIDEO, f"{what} is not a video: it is {kind}{served}")


def _finish(path: Path, title: str, max_bytes: int | None, content_type: str = "") -> FetchedFile:
    size = path.stat().st_size
    if size == 0:
        path.unlink(missing_ok=True)
        raise StageError("empty_file", f"the video file is empty: {title}")
    if max_bytes is not None and size > max_bytes:
        path.unlink(missing_ok=True)
        raise _too_large(title, size, max_bytes)
    with open(path, "rb") as handle:
        kind = sniff_non_video(handle.read(SNIFF_BYTES))
    if kind is not None:
        path.unlink(missing_ok=True)
        raise _not_a_video(title, kind, content_type)
    return FetchedFile(path=path, size_bytes=size, sha256=_sha256_file(path), title=title)


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in VIDEO_EXTENSIONS else ".bin"


def fetch(source: Source, dest_dir: Path, s3: ObjectStore | None = None, progress: Progress | None = None,
          timeout_s: float = 60, *, max_bytes: int | None = DEFAULT_MAX_BYTES,
          retries: int = 3, allow: Sequence[str] | Allowlist = (),
          local_roots: Sequence[str] | None = None) -> FetchedFile:
    """Bring the video named by `source` into `dest_dir` as `<video_id><ext>`.

    `allow`: addresses (IPs, CIDR blocks) and host names an http(s) source may be fetched from
    although they are not public (see net_guard); empty = public addresses only.
    `local_roots`: folders a local file source must lie in (after resolving symlinks); None = any
    folder (a user's own `quilt process`), empty = no local files at all.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if source.kind == "file":
        check_local_root(Path(source.uri), local_roots)
        return _fetch_file(source, dest_dir, progress, max_bytes)
    if source.kind == "http":
        return _fetch_http(source, dest_dir, progress, timeout_s, max_bytes, allow=allow)
    if source.kind == "s3":
        if s3 is None:
            raise ValueError("an s3 source needs an ObjectStore for its bucket (see s3_store_for)")
        return _fetch_s3(source, dest_dir, s3, progress, max_bytes)
    if source.kind == "youtube_video":
        return _fetch_youtube(source, dest_dir, progress, timeout_s, max_bytes, retries)
    raise StageError("bad_source", f"{source.kind} is a list of videos; list it with list_videos first")


def check_local_root(path: Path, roots: Sequence[str] | None) -> None:
    """StageError("blocked_path") unless `path`, symlinks resolved, lies inside one of `roots` (None: anywhere).

    A service that fetches local paths named in messages would otherwise read any file of its host
    (/etc/passwd, a mounted secret) into the bucket.
    """
    if roots is None:
        return
    real = Path(os.path.realpath(path))
    for root in roots:
        base = Path(os.path.realpath(Path(root).expanduser()))
        if real == base or base in real.parents:
            return
    where = ", ".join(roots) if roots else "none: local files are not fetched here"
    raise StageError("blocked_path", f"refusing local file {path}: it is outside the folders local sources may "
                     f"come from ({where}; setting local_source_roots)")


def _fetch_file(source: Source, dest_dir: Path, progress: Progress | None,
                max_bytes: int | None) -> FetchedFile:
    src = Path(source.uri)
    if not src.is_file():
        raise StageError("not_found" if not src.exists() else "bad_source", f"not a file: {src}")
    size = src.stat().st_size
    if size == 0:  # checked before linking so a failure never touches the caller's file
        raise StageError("empty_file", f"the video file is empty: {src}")
    if max_bytes is not None and size > max_bytes:
        raise _too_large(str(src), size, max_bytes)
    with open(src, "rb") as handle:  # checked before linking too: the caller's file is never touched
        kind = sniff_non_video(handle.read(SNIFF_BYTES))
    if kind is not None:
        raise _not_a_video(str(src), kind)
    dest = dest_dir / (video_id_for(source) + _suffix(src.name))
    if dest.resolve() != src.resolve():
        dest.unlink(missing_ok=True)  # a retry after a partial copy starts clean
        try:
            os.link(src, dest)  # instant and no extra disk when on the same filesystem
        except OSError:
            part = dest.with_name(dest.name + ".part")
            shutil.copyfile(src, part)
            part.replace(dest)
    if progress is not None:
        progress(size, size)
    return _finish(dest, src.stem, max_bytes)


def _fetch_http(source: Source, dest_dir: Path, progress: Progress | None, timeout_s: float,
                max_bytes: int | None, *, allow: Sequence[str] | Allowlist = ()) -> FetchedFile:
    url = source.uri
    path_name = urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)
    dest = dest_dir / (video_id_for(source) + _suffix(path_name))
    part = dest.with_name(dest.name + ".part")
    content_type = ""
    try:
        with open_url(url, allow=allow, timeout=timeout_s, headers={"User-Agent": "quilt-fetch/1"}) as response:
            content_type = str(response.headers.get("Content-Type") or "").split(";")[0].strip()
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if max_bytes is not None and total is not None and total > max_bytes:
                raise _too_large(url, total, max_bytes)
            done = _stream(response, part, url, total, progress, max_bytes, content_type)
    except StageError:
        part.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as err:
        part.unlink(missing_ok=True)
        raise StageError("http_error", f"HTTP {err.code} {err.reason} for {url}") from None
    except (urllib.error.URLError, OSError, HTTPException) as err:
        part.unlink(missing_ok=True)
        why = err.reason if isinstance(err, urllib.error.URLError) else err
        raise StageError("unreachable", f"could not download {url}: {why}") from None
    if total is not None and done != total:
        part.unlink(missing_ok=True)
        raise StageError("unreachable", f"download of {url} stopped at {done} of {total} bytes")
    part.replace(dest)
    return _finish(dest, Path(path_name).stem or url, max_bytes, content_type)


def _stream(response: Any, part: Path, url: str, total: int | None, progress: Progress | None,
            max_bytes: int | None, content_type: str = "") -> int:
    done = 0
    with open(part, "wb") as out:
        while chunk := response.read(CHUNK_BYTES):
            if done == 0 and (kind := sniff_non_video(chunk)) is not None:
                # An HTML error or login page: say so now rather than download all of it.
                raise _not_a_video(url, kind, content_type)
            done += len(chunk)
            # Servers may omit or lie about Content-Length: enforce the limit on what arrives.
            if max_bytes is not None and done > max_bytes:
                raise _too_large(url, None, max_bytes)
            out.write(chunk)
            if progress is not None:
                progress(done, total)
    return done


def _fetch_s3(source: Source, dest_dir: Path, s3: ObjectStore, progress: Progress | None,
              max_bytes: int | None) -> FetchedFile:
    if not source.key or source.key.endswith("/"):
        raise StageError("bad_source", f"{source.uri} names a prefix, not an object")
    size = _object_size(s3, source.key)
    if size is None and not s3.exists(source.key):
        raise StageError("not_found", f"no such object: {source.uri}")
    if max_bytes is not None and size is not None and size > max_bytes:
        raise _too_large(source.uri, size, max_bytes)
    dest = dest_dir / (video_id_for(source) + _suffix(source.key))
    part = dest.with_name(dest.name + ".part")
    try:
        s3.get_file(source.key, part)
    except KeyError:
        raise StageError("not_found", f"no such object: {source.uri}") from None
    part.replace(dest)
    if progress is not None:
        progress(dest.stat().st_size, dest.stat().st_size)
    return _finish(dest, Path(source.key).stem, max_bytes)


def _object_size(s3: ObjectStore, key: str) -> int | None:
    """Object size when the store can tell without downloading (S3); None otherwise."""
    if not isinstance(s3, S3Store):
        return None
    from minio.error import S3Error

    try:
        stat = s3.client.stat_object(s3.bucket, key)
    except S3Error as err:
        if err.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            raise StageError("not_found", f"no such object: s3://{s3.bucket}/{key}") from None
        raise
    return int(stat.size) if stat.size is not None else None


def _fetch_youtube(source: Source, dest_dir: Path, progress: Progress | None, timeout_s: float,
                   max_bytes: int | None, retries: int) -> FetchedFile:
    import yt_dlp

    opts = ytdlp_options(dest_dir, socket_timeout=timeout_s, retries=retries, max_bytes=max_bytes,
                         can_merge=shutil.which("ffmpeg") is not None, progress=progress)
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:  # type: ignore[arg-type]
            info = ydl.extract_info(source.uri, download=True)
    except yt_dlp.utils.DownloadError as err:
        raise StageError("youtube_unavailable", _clean_ytdlp_message(str(err))) from None
    info = dict(info or {})
    title = str(info.get("title") or source.youtube_id)
    path = _downloaded_path(info, dest_dir, video_id_for(source))
    if path is None:
        if max_bytes is not None and (info.get("filesize") or info.get("filesize_approx") or 0) > max_bytes:
            raise _too_large(source.uri, None, max_bytes)
        raise StageError("youtube_unavailable", f"yt-dlp produced no file for {source.uri}")
    return _finish(path, title, max_bytes)


def _downloaded_path(info: dict[str, Any], dest_dir: Path, video_id: str) -> Path | None:
    for item in info.get("requested_downloads") or []:
        path = Path(item.get("filepath") or item.get("_filename") or "")
        if path.name and path.is_file():
            return path
    # Fall back to the name our outtmpl gives; ignore yt-dlp's partial/fragment files.
    for path in sorted(dest_dir.glob(f"{video_id}.*")):
        if path.suffix in VIDEO_EXTENSIONS:
            return path
    return None


def _clean_ytdlp_message(message: str) -> str:
    return message.removeprefix("ERROR: ").strip() or "YouTube video unavailable"


def list_videos(source_or_subscription: str, s3: ObjectStore | None = None, *, socket_timeout: float = 30,
                retries: int = 3, ydl_factory: Callable[[dict[str, Any]], Any] | None = None,
                ) -> list[tuple[str, str]]:
    """(video_id, source_uri) for every video under a folder, s3 prefix, playlist or channel.

    A single video source lists as itself, so callers need not special-case it.
    `ydl_factory` replaces `yt_dlp.YoutubeDL` (tests, or a caller that wants its own options).
    """
    source = parse_source(source_or_subscription)
    if source.kind == "file":
        root = Path(source.uri)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        uris = [str(p) for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
        return [(video_id_for(Source("file", uri)), uri) for uri in uris]
    if source.kind == "s3":
        if s3 is None:
            raise ValueError("listing an s3 prefix needs an ObjectStore for its bucket (see s3_store_for)")
        keys = sorted(k for k in s3.list(source.key) if Path(k).suffix.lower() in VIDEO_EXTENSIONS)
        found = [Source("s3", f"s3://{source.bucket}/{k}", bucket=source.bucket, key=k) for k in keys]
        return [(video_id_for(s), s.uri) for s in found]
    if source.kind in ("http", "youtube_video"):
        return [(video_id_for(source), source.uri)]
    return _list_youtube(source, socket_timeout, retries, ydl_factory)


def _list_youtube(source: Source, socket_timeout: float, retries: int,
                  ydl_factory: Callable[[dict[str, Any]], Any] | None) -> list[tuple[str, str]]:
    import yt_dlp

    opts = {"extract_flat": "in_playlist", "quiet": True, "no_warnings": True, "noprogress": True,
            "logger": _YtdlpLogger(), "socket_timeout": socket_timeout, "retries": retries,
            "extractor_retries": retries, "cachedir": False}
    # A bare channel URL lists its tabs (Videos, Shorts, Live), not videos; lectures live under /videos.
    url = source.uri + "/videos" if source.kind == "youtube_channel" else source.uri
    factory = ydl_factory or yt_dlp.YoutubeDL
    try:
        with factory(opts) as ydl:
            info = ydl.extract_info(url, download=False)
    except yt_dlp.utils.DownloadError as err:
        raise StageError("youtube_unavailable", _clean_ytdlp_message(str(err))) from None
    return flat_entries_to_videos(dict(info or {}))


def flat_entries_to_videos(info: dict[str, Any]) -> list[tuple[str, str]]:
    """Map a yt-dlp `extract_flat` result to (video_id, watch URL), in order, without duplicates."""
    out: dict[str, str] = {}
    stack = list(reversed(info.get("entries") or []))
    while stack:
        entry = stack.pop()
        if not entry:
            continue  # yt-dlp yields None for private/deleted playlist items
        if entry.get("entries"):
            stack.extend(reversed(list(entry["entries"])))
            continue
        yid = str(entry.get("id") or "")
        if re.fullmatch(_YT_ID, yid) and entry.get("ie_key") in (None, "Youtube"):
            out.setdefault(video_id_for_youtube(yid), f"https://www.youtube.com/watch?v={yid}")
    return list(out.items())
