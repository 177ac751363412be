"""Source parsing and fetching over real loopback HTTP, a real S3 server and the local disk."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quilt.adapters.store import S3Store
from quilt.core.types import StageError
from quilt.stack.ports import free_port
from quilt.stages.fetch.sources import (
    Source,
    fetch,
    flat_entries_to_videos,
    list_videos,
    parse_source,
    video_id_for,
    ytdlp_options,
)
from quilt.testing.lecture import SlideSpec, make_lecture

PAYLOAD = bytes(range(256)) * 5000  # ~1.2 MiB: several download chunks
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><p>Please log in.</p></body></html>\n"
LOOPBACK = ["127.0.0.1"]  # the test server's address, which the fetcher refuses unless allowlisted

VID = "dQw4w9WgXcQ"
WATCH = f"https://www.youtube.com/watch?v={VID}"


@pytest.mark.parametrize(("text", "kind", "uri", "youtube_id"), [
    (f"https://www.youtube.com/watch?v={VID}", "youtube_video", WATCH, VID),
    (f"http://youtube.com/watch?v={VID}&t=42s", "youtube_video", WATCH, VID),
    (f"https://m.youtube.com/watch?feature=share&v={VID}", "youtube_video", WATCH, VID),
    (f"https://www.youtube.com/watch?v={VID}&list=PLabc123", "youtube_video", WATCH, VID),
    (f"https://youtu.be/{VID}", "youtube_video", WATCH, VID),
    (f"https://youtu.be/{VID}?si=xyz", "youtube_video", WATCH, VID),
    (f"youtu.be/{VID}", "youtube_video", WATCH, VID),
    (f"www.youtube.com/watch?v={VID}", "youtube_video", WATCH, VID),
    (f"https://www.youtube.com/shorts/{VID}", "youtube_video", WATCH, VID),
    (f"https://www.youtube.com/embed/{VID}", "youtube_video", WATCH, VID),
    ("https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", "youtube_playlist",
     "https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", ""),
    ("https://www.youtube.com/@PathologyLectures", "youtube_channel",
     "https://www.youtube.com/@PathologyLectures", ""),
    ("https://www.youtube.com/@PathologyLectures/videos", "youtube_channel",
     "https://www.youtube.com/@PathologyLectures", ""),
    ("https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv", "youtube_channel",
     "https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv", ""),
    ("https://www.youtube.com/c/histology", "youtube_channel", "https://www.youtube.com/c/histology", ""),
    ("https://www.youtube.com/user/histology/", "youtube_channel",
     "https://www.youtube.com/user/histology", ""),
    ("https://example.org/videos/lecture%201.mp4", "http", "https://example.org/videos/lecture%201.mp4", ""),
    ("http://127.0.0.1:8000/a.mp4", "http", "http://127.0.0.1:8000/a.mp4", ""),
    ("s3://lectures/2024/a.mp4", "s3", "s3://lectures/2024/a.mp4", ""),
    ("s3://lectures/2024/", "s3", "s3://lectures/2024/", ""),
])
def test_parse_source_forms(text: str, kind: str, uri: str, youtube_id: str) -> None:
    source = parse_source(text)
    assert (source.kind, source.uri, source.youtube_id) == (kind, uri, youtube_id)


def test_parse_source_s3_parts() -> None:
    source = parse_source("s3://lectures/2024/a.mp4")
    assert (source.bucket, source.key) == ("lectures", "2024/a.mp4")


@pytest.mark.parametrize("text", [
    "",
    "   ",
    "ftp://example.org/a.mp4",
    "https://www.youtube.com/watch?v=short",
    "https://www.youtube.com/watch",
    "https://youtu.be/",
    "https://www.youtube.com/playlist",
    "https://www.youtube.com/feed/trending",
    "https://www.youtube.com/channel/XYnotachannel",
    "s3://",
    "s3://A_Bad_Bucket/key",
    "http://",
])
def test_parse_source_rejects(text: str) -> None:
    with pytest.raises(StageError) as info:
        parse_source(text)
    assert info.value.reason == "bad_source"
    assert str(info.value)


def test_parse_source_local_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = tmp_path / "lecture.mp4"
    video.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert parse_source("lecture.mp4") == Source("file", str(video.resolve()))
    assert parse_source(f"file://{video}") == Source("file", str(video.resolve()))
    assert parse_source(str(tmp_path)).kind == "file"
    with pytest.raises(StageError) as info:
        parse_source("missing.mp4")
    assert info.value.reason == "not_found"


def test_video_ids_are_deterministic(tmp_path: Path) -> None:
    assert video_id_for(parse_source(f"https://youtu.be/{VID}")) == f"yt-{VID}"
    assert video_id_for(parse_source(WATCH)) == f"yt-{VID}"
    http_id = video_id_for(parse_source("https://example.org/a.mp4"))
    assert http_id.startswith("v-") and http_id == video_id_for(parse_source(" https://example.org/a.mp4 "))
    assert http_id != video_id_for(parse_source("https://example.org/b.mp4"))
    with pytest.raises(ValueError):
        video_id_for(parse_source("https://www.youtube.com/@someone"))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/lecture.mp4":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/empty.mp4":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path in ("/page.mp4", "/page"):  # a login or error page where a video was expected
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(HTML)))
            self.end_headers()
            self.wfile.write(HTML)
        else:
            self.send_error(404, "Not Found")

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # The too_large case hangs up mid-body; the broken pipe here is expected, not a failure.
        pass


@pytest.fixture()
def http_base() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_http_ok(http_base: str, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    source = parse_source(f"{http_base}/lecture.mp4")
    got = fetch(source, tmp_path / "out", progress=lambda done, total: calls.append((done, total)), allow=LOOPBACK)
    assert got.size_bytes == len(PAYLOAD)
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert got.path == tmp_path / "out" / f"{video_id_for(source)}.mp4"
    assert got.path.read_bytes() == PAYLOAD
    assert got.title == "lecture"
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(calls) > 1
    assert not list((tmp_path / "out").glob("*.part"))


def test_fetch_http_errors(http_base: str, tmp_path: Path) -> None:
    with pytest.raises(StageError) as info:
        fetch(parse_source(f"{http_base}/nope.mp4"), tmp_path, allow=LOOPBACK)
    assert info.value.reason == "http_error" and "404" in str(info.value)
    with pytest.raises(StageError) as info:
        fetch(parse_source(f"{http_base}/empty.mp4"), tmp_path, allow=LOOPBACK)
    assert info.value.reason == "empty_file"
    with pytest.raises(StageError) as info:
        fetch(parse_source(f"{http_base}/lecture.mp4"), tmp_path, max_bytes=1000, allow=LOOPBACK)
    assert info.value.reason == "too_large"
    assert not list(tmp_path.iterdir())


def test_fetch_http_unreachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: connection refused
    with pytest.raises(StageError) as info:
        fetch(parse_source(f"http://127.0.0.1:{port}/a.mp4"), tmp_path, timeout_s=5, allow=LOOPBACK)
    assert info.value.reason == "unreachable"


def test_fetch_http_refuses_loopback_unless_allowlisted(http_base: str, tmp_path: Path) -> None:
    source = parse_source(f"{http_base}/lecture.mp4")
    with pytest.raises(StageError) as info:
        fetch(source, tmp_path)
    assert info.value.reason == "blocked_address"
    assert "loopback" in str(info.value) and "fetch_allow" in str(info.value) and http_base in str(info.value)
    assert not list(tmp_path.iterdir())
    localhost = parse_source(http_base.replace("127.0.0.1", "localhost") + "/lecture.mp4")
    with pytest.raises(StageError) as info:
        fetch(localhost, tmp_path, allow=["10.0.0.0/8"])  # another block does not cover loopback
    assert info.value.reason == "blocked_address" and "localhost resolves to" in str(info.value)
    assert fetch(source, tmp_path, allow=["127.0.0.0/8"]).size_bytes == len(PAYLOAD)


@pytest.mark.parametrize("path", ["/page.mp4", "/page"])
def test_fetch_http_html_is_not_a_video(http_base: str, tmp_path: Path, path: str) -> None:
    with pytest.raises(StageError) as info:
        fetch(parse_source(http_base + path), tmp_path, allow=LOOPBACK)
    assert info.value.reason == "not_a_video"
    assert "an HTML page" in str(info.value) and "text/html" in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing left behind, not even the .part file


def test_fetch_file_text_is_not_a_video(tmp_path: Path) -> None:
    page = tmp_path / "in" / "saved.mp4"
    page.parent.mkdir()
    page.write_bytes(HTML)
    with pytest.raises(StageError) as info:
        fetch(parse_source(str(page)), tmp_path / "out")
    assert info.value.reason == "not_a_video" and "HTML" in str(info.value)
    assert page.read_bytes() == HTML and not list((tmp_path / "out").iterdir())


def test_fetch_file(tmp_path: Path) -> None:
    src = tmp_path / "in" / "Lecture 3.mov"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    source = parse_source(str(src))
    got = fetch(source, tmp_path / "out")
    assert got.path == tmp_path / "out" / f"{video_id_for(source)}.mov"
    assert (got.size_bytes, got.sha256, got.title) == (len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest(),
                                                       "Lecture 3")
    assert fetch(source, tmp_path / "out") == got  # retry-safe
    empty = tmp_path / "in" / "empty.mp4"
    empty.touch()
    with pytest.raises(StageError) as info:
        fetch(parse_source(str(empty)), tmp_path / "out")
    assert info.value.reason == "empty_file"
    with pytest.raises(StageError) as info:
        fetch(source, tmp_path / "out2", max_bytes=10)
    assert info.value.reason == "too_large"


def test_fetch_s3(s3_store: S3Store, tmp_path: Path) -> None:
    s3_store.put_bytes("lectures/a.mp4", PAYLOAD)
    source = parse_source(f"s3://{s3_store.bucket}/lectures/a.mp4")
    got = fetch(source, tmp_path, s3=s3_store)
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest() and got.size_bytes == len(PAYLOAD)
    assert got.path.read_bytes() == PAYLOAD and got.title == "a"
    with pytest.raises(StageError) as info:
        fetch(parse_source(f"s3://{s3_store.bucket}/lectures/missing.mp4"), tmp_path, s3=s3_store)
    assert info.value.reason == "not_found"
    with pytest.raises(StageError) as info:
        fetch(source, tmp_path / "small", s3=s3_store, max_bytes=100)
    assert info.value.reason == "too_large"
    s3_store.put_bytes("lectures/page.mp4", HTML)  # an object that is an HTML page, whatever its name
    with pytest.raises(StageError) as info:
        fetch(parse_source(f"s3://{s3_store.bucket}/lectures/page.mp4"), tmp_path / "page", s3=s3_store)
    assert info.value.reason == "not_a_video"
    assert not list((tmp_path / "page").iterdir())


def test_ytdlp_options(tmp_path: Path) -> None:
    opts = ytdlp_options(tmp_path, socket_timeout=7, retries=2)
    assert "height<=720" in opts["format"] and "mp4" in opts["format"] and "+ba" in opts["format"]
    assert opts["merge_output_format"] == "mp4"
    assert opts["outtmpl"]["default"] == str(tmp_path / "yt-%(id)s.%(ext)s")
    assert opts["noplaylist"] is True and opts["quiet"] is True and opts["noprogress"] is True
    assert opts["retries"] == 2 and opts["socket_timeout"] == 7
    assert "progress_hooks" not in opts
    single = ytdlp_options(tmp_path, can_merge=False)
    assert "+" not in single["format"]  # no ffmpeg: only formats that already carry audio
    seen: list[tuple[int, int | None]] = []
    hooked = ytdlp_options(tmp_path, progress=lambda d, t: seen.append((d, t)))
    hooked["progress_hooks"][0]({"status": "downloading", "downloaded_bytes": 5, "total_bytes": 10})
    assert seen == [(5, 10)]


@pytest.fixture()
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make name lookups fail, so these tests never download from YouTube even where a network exists."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.usefixtures("no_dns")
def test_fetch_youtube_offline_fails_fast(tmp_path: Path) -> None:
    # yt-dlp must fail on DNS and map to youtube_unavailable quickly.
    with pytest.raises(StageError) as info:
        fetch(parse_source(WATCH), tmp_path, timeout_s=2, retries=0)
    assert info.value.reason == "youtube_unavailable"
    assert VID in str(info.value)


@pytest.mark.usefixtures("no_dns")
def test_list_youtube_offline(tmp_path: Path) -> None:
    with pytest.raises(StageError) as info:
        list_videos("https://www.youtube.com/@nosuchchannel", socket_timeout=2, retries=0)
    assert info.value.reason == "youtube_unavailable"


def test_flat_entries_mapping() -> None:
    other = "abcdefghijk"
    info = {"entries": [
        {"id": VID, "ie_key": "Youtube", "url": WATCH},
        None,  # deleted/private video
        {"id": "UCtab", "ie_key": "YoutubeTab", "url": "https://www.youtube.com/@x/shorts"},
        {"entries": [{"id": other, "ie_key": "Youtube"}, {"id": VID, "ie_key": "Youtube"}]},
    ]}
    assert flat_entries_to_videos(info) == [
        (f"yt-{VID}", WATCH), (f"yt-{other}", f"https://www.youtube.com/watch?v={other}")]


def test_list_youtube_with_fake_client() -> None:
    class FakeYDL:
        def __init__(self, opts: dict[str, Any]) -> None:
            assert opts["extract_flat"] == "in_playlist"

        def __enter__(self) -> FakeYDL:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def extract_info(self, url: str, download: bool) -> dict[str, Any]:
            assert url == "https://www.youtube.com/@histo/videos" and not download
            return {"entries": [{"id": VID, "ie_key": "Youtube"}]}

    assert list_videos("youtube.com/@histo", ydl_factory=FakeYDL) == [(f"yt-{VID}", WATCH)]


def test_list_local_folder(tmp_path: Path) -> None:
    for name in ["b.mp4", "a.MKV", "sub/c.webm", "notes.txt", "sub/d.avi"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    listed = list_videos(str(tmp_path))
    assert [Path(uri).relative_to(tmp_path).as_posix() for _, uri in listed] == [
        "a.MKV", "b.mp4", "sub/c.webm", "sub/d.avi"]
    assert all(vid == video_id_for(parse_source(uri)) for vid, uri in listed)


def test_list_s3_prefix(s3_store: S3Store) -> None:
    for key in ["in/a.mp4", "in/deep/b.mov", "in/readme.txt", "other/c.mp4"]:
        s3_store.put_bytes(key, b"x")
    listed = list_videos(f"s3://{s3_store.bucket}/in/", s3=s3_store)
    assert [uri for _, uri in listed] == [f"s3://{s3_store.bucket}/in/a.mp4",
                                          f"s3://{s3_store.bucket}/in/deep/b.mov"]


def test_local_sources_are_confined_to_their_roots(tmp_path: Path) -> None:
    inbox, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
    inbox.mkdir()
    elsewhere.mkdir()
    make_lecture(inbox / "lecture.mp4", [SlideSpec("histology", 1.0, "", seed=1)], with_audio=False)
    secret = elsewhere / "secret.mp4"
    secret.write_bytes((inbox / "lecture.mp4").read_bytes())
    (inbox / "link.mp4").symlink_to(secret)  # inside the root by name, outside by target
    out = tmp_path / "out"
    assert fetch(parse_source(str(inbox / "lecture.mp4")), out, local_roots=[str(inbox)]).size_bytes > 0
    assert fetch(parse_source(str(secret)), out, local_roots=None).size_bytes > 0  # a user's own quilt process
    for path, roots in ((secret, [str(inbox)]), (inbox / "link.mp4", [str(inbox)]),
                        (inbox / ".." / "elsewhere" / "secret.mp4", [str(inbox)]), (inbox / "lecture.mp4", [])):
        with pytest.raises(StageError) as refused:
            fetch(parse_source(str(path)), out, local_roots=roots)
        assert refused.value.reason == "blocked_path" and "local_source_roots" in str(refused.value)


def test_local_source_roots_setting() -> None:
    from dataclasses import replace

    from quilt.adapters.config import Settings
    from quilt.adapters.stage_params import local_roots

    assert local_roots(Settings()) is None
    assert local_roots(replace(Settings(), local_source_roots="")) == ()
    assert local_roots(replace(Settings(), local_source_roots="/srv/in, /data/up")) == ("/srv/in", "/data/up")
