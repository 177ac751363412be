"""Shared fixtures: one embedded S3 store per test session on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from quilt.adapters.store import S3Store
from quilt.core.ids import short_hash
from quilt.stack.ports import free_port, wait_port


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real localbucket S3 server; yields its `host:port` endpoint."""
    root = tmp_path_factory.mktemp("s3")
    port = free_port()
    exe = Path(sys.executable).with_name("localbucket")
    proc = subprocess.Popen([str(exe), "--host", "127.0.0.1", "--port", str(port), str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_port("127.0.0.1", port, 15):
            raise RuntimeError("localbucket did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture()
def s3_store(s3_server: str, request: pytest.FixtureRequest) -> S3Store:
    """A fresh bucket per test on the shared server."""
    # Bucket names allow lower-case letters, digits and inner hyphens only; the hash keeps
    # parametrised variants of one test apart.
    text = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())
    name = f"t-{text[:40].strip('-')}-{short_hash(request.node.nodeid, length=8)}"
    store = S3Store(s3_server, "quilt", "quiltsecret", name)
    store.ensure_bucket()
    return store


from tests.stack_fixture import stack  # noqa: E402,F401  - the session-wide embedded stack
