"""The fetcher's guard against server-side request forgery, over a real loopback HTTP server.

There is no internet here, so the one "public host" case answers name lookups with a patched
socket.getaddrinfo; everything else resolves for real (literal addresses, `localhost`).
Connections are observed through the interpreter's "socket.connect" audit events, so "refused
without a connection attempt" is checked, not assumed.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quilt.core.types import StageError
from quilt.stages.fetch.net_guard import (
    Allowlist,
    blocked_reason,
    open_url,
    parse_allow,
    vet_host,
    vet_url,
)
from quilt.stages.fetch.sources import fetch, parse_source

BODY = bytes(range(256)) * 64  # binary, so it passes as a (tiny) video download

_connects: list[Any] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _connects is not None:
        _connects.append(args[1])


sys.addaudithook(_audit)  # cannot be removed; records only while a test holds the `connects` fixture


@pytest.fixture()
def connects() -> Iterator[list[Any]]:
    global _connects
    _connects = []
    try:
        yield _connects
    finally:
        _connects = None


def _hosts(addresses: list[Any]) -> set[str]:
    return {str(a[0]) for a in addresses if isinstance(a, tuple)}


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata service"),
    ("169.254.10.20", "link-local"),
    ("fe80::1", "link-local"),
    ("fd00:ec2::254", "cloud metadata service"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "cloud metadata service"),
    ("::ffff:10.0.0.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),  # blocked: not public, and Alibaba Cloud's metadata lives there
    ("100.100.100.200", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", ""),  # reserved for future use
    ("255.255.255.255", ""),  # broadcast
    ("192.0.2.7", ""),  # documentation
    ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible
    ("2002:7f00:1::", "loopback (embedded as 127.0.0.1)"),  # 6to4
    ("64:ff9b::a9fe:a9fe", "(embedded as 169.254.169.254)"),  # NAT64
])
def test_blocked_addresses(address: str, why: str) -> None:
    reason = blocked_reason(ipaddress.ip_address(address))
    assert reason is not None and why in reason
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(StageError) as info:
        vet_url(f"http://{host}:8080/lecture.mp4", Allowlist())  # literal: resolves without DNS
    assert info.value.reason == "blocked_address"
    assert "fetch_allow" in str(info.value)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111",
                                     "64:ff9b::808:808", "172.32.0.1", "100.128.0.1"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_localhost_is_refused_by_its_resolved_addresses() -> None:
    with pytest.raises(StageError) as info:
        vet_host("localhost", 80, Allowlist())
    assert info.value.reason == "blocked_address"
    assert "localhost resolves to" in str(info.value) and "loopback" in str(info.value)


def test_allowlist_by_block_and_by_host() -> None:
    assert vet_host("127.0.0.1", 80, Allowlist.parse(["127.0.0.0/8"]))
    assert vet_host("localhost", 80, Allowlist.parse(["LOCALHOST."]))  # case and trailing dot ignored
    with pytest.raises(StageError):
        vet_host("127.0.0.1", 80, Allowlist.parse(["10.0.0.0/8", "minio.internal"]))
    rules = Allowlist.parse("10.0.0.0/8, *.svc.cluster.local ,127.0.0.1,::1")  # the comma-separated setting
    assert rules.allows_host("minio.quilt.svc.cluster.local") and not rules.allows_host("svc.cluster.local.evil")
    assert rules.allows_address(ipaddress.ip_address("::ffff:10.9.8.7"))  # mapped form of an allowed IPv4
    assert not rules.allows_address(ipaddress.ip_address("192.168.0.1"))
    assert parse_allow(" a.example, ,10.0.0.0/8 ") == ("a.example", "10.0.0.0/8")
    with pytest.raises(ValueError, match="fetch_allow entry"):
        Allowlist.parse(["not a host!"])


def test_a_public_host_passes_and_one_bad_answer_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"lectures.example": ["93.184.216.34", "2606:2800:220:1::1"],
               "mixed.example": ["93.184.216.34", "10.0.0.5"]}

    def fake_getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert len(vet_host("lectures.example", 443, Allowlist())) == 2
    vet_url("https://lectures.example/pathology/lecture-1.mp4", Allowlist())
    with pytest.raises(StageError) as info:
        vet_url("https://mixed.example/a.mp4", Allowlist())
    assert info.value.reason == "blocked_address" and "10.0.0.5" in str(info.value)


def test_only_http_and_https() -> None:
    for url in ("file:///etc/passwd", "ftp://example.org/a.mp4", "gopher://127.0.0.1:6379/_INFO"):
        with pytest.raises(StageError) as info:
            open_url(url)
        assert info.value.reason == "bad_source"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        port = self.server.server_address[1]
        targets = {
            "/to-metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "/to-private": "http://10.0.0.1/lecture.mp4",
            "/to-mapped": "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "/to-ip": f"http://127.0.0.1:{port}/video.mp4",
            "/to-file": "file:///etc/passwd",
            "/to-rebind": f"http://rebind.test:{port}/video.mp4",
            "/hop": "/video.mp4",
        }
        if self.path in targets:
            self.send_response(302)
            self.send_header("Location", targets[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/loop/"):
            self.send_response(302)
            self.send_header("Location", f"/loop/{int(self.path.rsplit('/', 1)[1]) + 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/video.mp4":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[tuple[str, int]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


ALLOW_SERVER = ["127.0.0.1"]  # the test server, by address


@pytest.mark.parametrize(("path", "target"), [
    ("/to-metadata", "169.254.169.254"),
    ("/to-private", "10.0.0.1"),
    ("/to-mapped", "::ffff:169.254.169.254"),
])
def test_a_redirect_to_a_blocked_address_is_refused_before_connecting(
        server: tuple[str, int], connects: list[Any], tmp_path: Path, path: str, target: str) -> None:
    base, port = server
    with pytest.raises(StageError) as info:
        fetch(parse_source(base + path), tmp_path, allow=ALLOW_SERVER, timeout_s=5)
    assert info.value.reason == "blocked_address"
    message = str(info.value)
    assert "redirect" in message and base + path in message and target in message
    assert _hosts(connects) == {"127.0.0.1"}  # only the allowlisted server was ever connected to
    assert not list(tmp_path.iterdir())


def test_allowlisting_a_name_does_not_allow_its_address_under_another_name(
        server: tuple[str, int], connects: list[Any], tmp_path: Path) -> None:
    _, port = server
    by_name = f"http://localhost:{port}"
    with pytest.raises(StageError) as info:  # localhost is allowed by name; the redirect names 127.0.0.1
        fetch(parse_source(by_name + "/to-ip"), tmp_path, allow=["localhost"], timeout_s=5)
    assert info.value.reason == "blocked_address" and "127.0.0.1 is a loopback address" in str(info.value)
    assert _hosts(connects) <= {"127.0.0.1", "::1"} and len(connects) <= 2  # the first request only
    got = fetch(parse_source(by_name + "/to-ip"), tmp_path, allow=["localhost", "127.0.0.1"], timeout_s=5)
    assert got.path.read_bytes() == BODY


def test_redirects_within_the_allowlist_are_followed(server: tuple[str, int]) -> None:
    base, _ = server
    with open_url(base + "/hop", allow=ALLOW_SERVER, timeout=5) as response:
        assert response.read() == BODY and response.geturl() == base + "/video.mp4"
    with pytest.raises(StageError) as info:
        open_url(base + "/to-file", allow=ALLOW_SERVER, timeout=5)
    assert info.value.reason == "bad_source" and "only http and https" in str(info.value)


def test_redirect_loop_is_cut(server: tuple[str, int], connects: list[Any], tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(StageError) as info:
        fetch(parse_source(base + "/loop/0"), tmp_path, allow=ALLOW_SERVER, timeout_s=5)
    assert info.value.reason == "too_many_redirects" and "more than 5" in str(info.value)
    assert len(connects) == 6  # the first request and five redirects


def test_dns_rebinding_is_caught_at_connect_time(server: tuple[str, int], connects: list[Any], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The name passes the check at the redirect, then answers with a private address for the connection."""
    base, _ = server
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34", "10.0.0.1"])

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(StageError) as info:
        fetch(parse_source(base + "/to-rebind"), tmp_path, allow=ALLOW_SERVER, timeout_s=5)
    assert info.value.reason == "blocked_address"
    assert "rebind.test resolves to 10.0.0.1" in str(info.value)
    assert _hosts(connects) == {"127.0.0.1"}  # neither the "public" nor the private answer was connected to


def test_proxies_from_the_environment_are_not_used(server: tuple[str, int], connects: list[Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = server
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://10.0.0.1:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    got = fetch(parse_source(base + "/video.mp4"), tmp_path, allow=ALLOW_SERVER, timeout_s=5)
    assert got.path.read_bytes() == BODY
    assert _hosts(connects) == {"127.0.0.1"}
