"""One embedded stack per test session: real broker, S3 store, Triton and the six services."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from quilt.adapters.config import Settings
from quilt.adapters.status import read_video_status
from quilt.adapters.store import S3Store
from quilt.stack.launcher import Stack
from quilt.stack.ports import free_port


def stack_settings(data_dir: Path) -> Settings:
    return replace(
        Settings(), data_dir=data_dir, s3_port=free_port(), kafka_port=free_port(),
        triton_grpc_port=free_port(), triton_http_port=free_port(), triton_metrics_port=free_port(),
        grpc_base_port=_free_block(6), metrics_base_port=_free_block(6), topic_prefix="qt.",
    )


def _free_block(size: int) -> int:
    """A run of free consecutive ports (services take base + index)."""
    import socket

    for _ in range(50):
        base = free_port()
        if base + size > 65000:
            continue
        try:
            sockets = []
            for offset in range(size):
                sock = socket.socket()
                sock.bind(("127.0.0.1", base + offset))
                sockets.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port block")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = stack_settings(tmp_path_factory.mktemp("stack"))
    running = Stack(settings, say=lambda line: None)
    try:
        running.up(timeout_s=240)
        yield running
    finally:
        running.down(timeout_s=20)


def bucket_of(stack: Stack) -> S3Store:
    s = stack.settings
    return S3Store(s.s3, s.s3_access_key, s.s3_secret_key, s.bucket)


def wait_video(stack: Stack, video_id: str, timeout_s: float = 300.0, stage: str = "aligner") -> dict:
    """Wait until `stage` is done for the video or any stage failed; return the status per stage."""
    store = bucket_of(stack)
    deadline = time.monotonic() + timeout_s
    stages: dict = {}
    while time.monotonic() < deadline:
        stages = read_video_status(store, video_id)
        if stages.get(stage, {}).get("state") == "done":
            return stages
        if any(e.get("state") == "failed" for e in stages.values()):
            return stages
        time.sleep(0.5)
    raise AssertionError(f"video {video_id} not finished in {timeout_s} s: {stages}")
