"""Object keys from messages cannot climb out of the bucket (or its folder) or alias other objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from quilt.adapters.store import MAX_KEY_BYTES, BadKey, LocalStore, S3Store, check_key, check_prefix
from quilt.core.types import StageError

BAD_KEYS = [
    "",
    "../outside.txt",
    "frames/../../outside.txt",
    "frames/v1/..",
    "..",
    "/etc/passwd",
    "//server/share",
    "frames\\..\\..\\outside.txt",
    "frames/./c1.jpg",
    "frames//c1.jpg",
    "frames/v1/",
    "frames/v1\x00.jpg",
    "frames/v1\n.jpg",
    "frames/\x7f.jpg",
    "a" * (MAX_KEY_BYTES + 1),
    "é" * (MAX_KEY_BYTES // 2 + 1),  # 1026 bytes in UTF-8, though fewer characters
]

GOOD_KEYS = ["videos/v-0123/source.mp4", "frames/yt-abc_DEF-123/yt-abc-c00000000-00004000.jpg",
             "status/v-1/decoder.json", "a" * MAX_KEY_BYTES, "pairs/records/v/p-1.json", "index/phash/b00/ff/x.json",
             "notes/épithélium.txt", "dots/..hidden/x..y/.z"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(BadKey) as info:
        check_key(key)
    err = info.value
    assert isinstance(err, StageError) and isinstance(err, ValueError)  # dead-lettered, never retried
    assert err.reason == "bad_key" and str(err).startswith("refusing object key ")
    assert len(str(err)) < 300  # a 1 KB key is shortened in the message


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_pass(key: str) -> None:
    assert check_key(key) == key


def test_prefixes() -> None:
    for prefix in ("", "status/", "status/v-1/", "frames/v", "index/phash/b00/"):
        assert check_prefix(prefix) == prefix
    for prefix in ("../", "status/../", "/status/", "a\\b", "a//b/"):
        with pytest.raises(BadKey):
            check_prefix(prefix)
    with pytest.raises(BadKey):
        check_key(None)  # type: ignore[arg-type]


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("key", BAD_KEYS)
def test_local_store_refuses_and_writes_nothing(tmp_path: Path, key: str) -> None:
    root = tmp_path / "bucket"
    store = LocalStore(root)
    store.put_bytes("frames/v1/c1.jpg", b"kept")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    source = tmp_path / "upload.bin"
    source.write_bytes(b"payload")
    before = _snapshot(tmp_path)
    for call in (lambda: store.put_bytes(key, b"evil"), lambda: store.put_file(key, source),
                 lambda: store.get_bytes(key), lambda: store.exists(key), lambda: store.delete(key),
                 lambda: store.get_file(key, tmp_path / "copy.bin")):
        with pytest.raises(BadKey):
            call()
    assert _snapshot(tmp_path) == before  # nothing written, deleted or created, in the store or beside it
    assert outside.read_bytes() == b"secret" and store.get_bytes("frames/v1/c1.jpg") == b"kept"


def test_local_store_list_prefix(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    store.put_bytes("a/x.json", b"1")
    store.put_bytes("b/y.json", b"2")
    assert list(store.list("")) == ["a/x.json", "b/y.json"]
    assert list(store.list("a/")) == ["a/x.json"]
    with pytest.raises(BadKey):
        list(store.list("../"))


def test_local_store_does_not_follow_a_symlink_out_of_its_folder(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    store = LocalStore(root)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")
    with pytest.raises(BadKey) as info:
        store.put_bytes("link/planted.txt", b"evil")
    assert "outside the store" in str(info.value)
    assert not (tmp_path / "elsewhere" / "planted.txt").exists()


class _RecordingClient:
    """Stands in for the minio client: any call reaching it would be a request to the server."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            raise AssertionError(f"S3 request {name} was made")

        return call


@pytest.mark.parametrize("key", ["../outside", "/abs", "a//b", "a\\b", "", "x" * 1100])
def test_s3_store_refuses_before_any_request(tmp_path: Path, key: str) -> None:
    store = S3Store("127.0.0.1:9", "quilt", "secret", "bucket")  # nothing listens on port 9
    client = _RecordingClient()
    store.client = client  # type: ignore[assignment]
    source = tmp_path / "upload.bin"
    source.write_bytes(b"payload")
    for call in (lambda: store.put_bytes(key, b"evil"), lambda: store.put_file(key, source),
                 lambda: store.get_bytes(key), lambda: store.get_file(key, tmp_path / "copy.bin"),
                 lambda: store.exists(key), lambda: store.delete(key)):
        with pytest.raises(BadKey):
            call()
    with pytest.raises(BadKey):
        list(store.list("../"))
    assert client.calls == [] and not (tmp_path / "copy.bin").exists()


def test_s3_store_traversal_key_is_refused_with_a_real_server(s3_store: S3Store) -> None:
    s3_store.put_bytes("frames/v1/c1.jpg", b"kept")
    with pytest.raises(BadKey):
        s3_store.put_bytes("frames/v1/../../status/v1/decoder.json", b"forged")
    assert list(s3_store.list("")) == ["frames/v1/c1.jpg"]
