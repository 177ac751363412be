"""Subscriptions submit each new video exactly once, across polls and registry restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from quilt.adapters.store import LocalStore, S3Store
from quilt.ops.subscriptions import SubscriptionRegistry
from quilt.stages.fetch.sources import list_videos


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, video_id: str, source: str) -> None:
        self.calls.append((video_id, source))


def test_folder_subscription(tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    (watched / "one.mp4").write_bytes(b"1")
    store = LocalStore(tmp_path / "state")
    registry = SubscriptionRegistry(store)
    sub = registry.add(str(watched), interval_s=60)
    assert registry.add(str(watched) + "/", interval_s=60) == sub  # idempotent, normalised
    assert registry.list() == [sub]

    submit = Recorder()
    first = registry.poll(sub, list_videos, submit)
    assert len(first) == 1 and submit.calls[0][1] == str(watched / "one.mp4")
    assert registry.poll(sub, list_videos, submit) == []

    (watched / "two.mkv").write_bytes(b"2")
    (watched / "skip.txt").write_bytes(b"t")
    second = registry.poll(sub, list_videos, submit)
    assert [src for _, src in submit.calls] == [str(watched / "one.mp4"), str(watched / "two.mkv")]
    assert registry.seen(sub.sub_id) == set(first + second)

    # A new process: same store, fresh registry object.
    restarted = SubscriptionRegistry(LocalStore(tmp_path / "state"))
    assert restarted.list() == [sub]
    (watched / "nested").mkdir()
    (watched / "nested" / "three.webm").write_bytes(b"3")
    third = restarted.poll(restarted.list()[0], list_videos, submit)
    assert len(third) == 1 and submit.calls[-1][1] == str(watched / "nested" / "three.webm")
    assert len(submit.calls) == 3 == len({vid for vid, _ in submit.calls})


def test_failed_submit_is_retried(tmp_path: Path) -> None:
    registry = SubscriptionRegistry(LocalStore(tmp_path / "state"))
    watched = tmp_path / "w"
    watched.mkdir()
    (watched / "a.mp4").write_bytes(b"a")
    sub = registry.add(str(watched), 10)

    def broken(video_id: str, source: str) -> None:
        raise RuntimeError("broker down")

    with pytest.raises(RuntimeError):
        registry.poll(sub, list_videos, broken)
    assert registry.seen(sub.sub_id) == set()
    submit = Recorder()
    assert len(registry.poll(sub, list_videos, submit)) == 1


def test_s3_prefix_subscription(s3_store: S3Store) -> None:
    registry = SubscriptionRegistry(s3_store, prefix="subs")
    source = f"s3://{s3_store.bucket}/incoming/"
    sub = registry.add(source, interval_s=300)

    def lister(uri: str) -> list[tuple[str, str]]:
        return list_videos(uri, s3=s3_store)

    submit = Recorder()
    assert registry.poll(sub, lister, submit) == []
    s3_store.put_bytes("incoming/a.mp4", b"a")
    s3_store.put_bytes("elsewhere/b.mp4", b"b")
    assert len(registry.poll(sub, lister, submit)) == 1
    s3_store.put_bytes("incoming/c.mov", b"c")
    again = SubscriptionRegistry(s3_store, prefix="subs")
    assert len(again.poll(sub, lister, submit)) == 1
    assert again.poll(sub, lister, submit) == []
    assert [src for _, src in submit.calls] == [f"s3://{s3_store.bucket}/incoming/a.mp4",
                                                f"s3://{s3_store.bucket}/incoming/c.mov"]


def test_remove(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    registry = SubscriptionRegistry(store)
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    folder_a.mkdir()
    folder_b.mkdir()
    (folder_a / "x.mp4").write_bytes(b"x")
    sub_a = registry.add(str(folder_a), 60)
    sub_b = registry.add(str(folder_b), 60)
    registry.poll(sub_a, list_videos, Recorder())
    assert {s.sub_id for s in registry.list()} == {sub_a.sub_id, sub_b.sub_id}

    assert registry.remove(sub_a.sub_id) is True
    assert registry.remove(sub_a.sub_id) is False
    assert registry.seen(sub_a.sub_id) == set()
    folder_b.rmdir()  # removing by source still works once the folder is gone
    assert registry.remove(str(folder_b)) is True
    assert registry.list() == []
    assert list(store.list("subscriptions/")) == []
