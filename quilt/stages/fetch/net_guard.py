"""Downloads that cannot reach the machine's own network (a guard against server-side request forgery).

A user-supplied http(s) URL could name loopback (the embedded bucket, broker and control ports), the
cloud metadata service (169.254.169.254) or anything else on a private network, and the fetched bytes
would then travel on as a "video". `open_url` only ever talks to public addresses, unless an address
or a host is allowlisted:

* every address the host resolves to (A and AAAA) is vetted, and one bad address refuses the host;
* the socket is connected to the very addresses that were vetted: the name is resolved once, at
  connect time, by the connection itself, so an answer that changes between a check and the connect
  (DNS rebinding) cannot slip through; TLS still verifies the certificate against the host name;
* every redirect is vetted before it is followed (scheme, host and addresses), at most MAX_REDIRECTS;
* only http and https; proxies from the environment are ignored, since a proxy would resolve the
  name itself, out of the guard's sight.

Blocked: loopback, link-local (the metadata service included), private (RFC 1918, fc00::/7),
shared/carrier-grade NAT (100.64.0.0/10, where some clouds put their metadata service), unspecified,
multicast, reserved and every other not globally routable range, and IPv6 forms that embed such an
IPv4 address (IPv4-mapped ::ffff:a.b.c.d, 6to4 2002::/16, NAT64 64:ff9b::/96).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import IO, Any

from quilt.core.types import StageError
from quilt.stages.common.allowlist import ALLOW_SETTING, Allowlist, IPAddress, parse_allow, unmapped

__all__ = ["ALLOW_SETTING", "Allowlist", "parse_allow"]  # re-exported: the allowlist is parsed in common/

AddrInfo = tuple[Any, ...]  # one socket.getaddrinfo answer: (family, type, proto, canonname, sockaddr)

BLOCKED = "blocked_address"
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598; Alibaba Cloud's metadata is 100.100.100.200
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, local use
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_DEFAULT_TIMEOUT: Any = socket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]  # "no timeout given"


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why fetching from this address is refused (e.g. "loopback"), or None for a public address."""
    ip = unmapped(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded = _embedded_v4(ip)
        if embedded is not None:
            if (why := blocked_reason(embedded)) is not None:
                return f"{why} (embedded as {embedded})"
            if ip in _NAT64:  # DNS64: a public IPv4 host reached through the network's NAT64 gateway
                return None
        if ip in _NAT64_LOCAL:
            return "private (local-use NAT64)"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip in _METADATA:
        return "link-local (cloud metadata service)"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.version == 4 and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def _address(sockaddr: Any) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


class BlockedAddress(StageError):
    """StageError("blocked_address"); `detail` says which host and address, without the URL."""

    def __init__(self, message: str, detail: str, url: str = "") -> None:
        super().__init__(BLOCKED, message)
        self.detail = detail
        self.url = url


def _refused(host: str, ip: IPAddress, why: str, url: str) -> BlockedAddress:
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0]) == ip
    except ValueError:
        literal = False
    where = f"{host} is a {why} address" if literal else f"{host} resolves to {ip}, a {why} address"
    detail = f"{where} (allowlist it with the setting {ALLOW_SETTING} if it is meant to be fetched)"
    return BlockedAddress(f"refusing to download {url or host}: {detail}", detail, url)


def resolve(host: str, port: int) -> list[AddrInfo]:
    """Every TCP address of `host` (A and AAAA). socket.gaierror when it does not resolve."""
    return socket.getaddrinfo(host.strip("[]"), port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def vet_host(host: str, port: int, allow: Allowlist, *, url: str = "") -> list[AddrInfo]:
    """Resolve `host` and return its addresses if every one of them may be fetched from.

    Raises StageError("blocked_address") when one of them is refused; socket.gaierror (an OSError)
    when the name does not resolve.
    """
    infos = resolve(host, port)
    if allow.allows_host(host):
        return infos
    for info in infos:
        ip = _address(info[4])
        why = blocked_reason(ip)
        if why is not None and not allow.allows_address(ip):
            raise _refused(host, ip, why, url)
    return infos


def vet_url(url: str, allow: Allowlist) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a blocked address (see vet_host)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise StageError("bad_source", f"refusing to download {url}: only http and https URLs are fetched")
    host = parts.hostname
    if not host:
        raise StageError("bad_source", f"refusing to download {url}: the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise StageError("bad_source", f"refusing to download {url}: invalid port") from None
    try:
        vet_host(host, port, allow, url=url)
    except OSError as err:
        raise StageError("unreachable", f"could not download {url}: cannot resolve {host}: {err}") from None


def _guarded_create_connection(allow: Allowlist) -> Any:
    """socket.create_connection, but connecting only to the addresses vet_host approved."""

    def create_connection(address: tuple[str, int], timeout: Any = _DEFAULT_TIMEOUT,
                          source_address: tuple[str, int] | None = None) -> socket.socket:
        host, port = address
        infos = vet_host(host, port, allow)
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as err:
                last = err
                sock.close()
        raise last or OSError(f"no address to connect to for {host}")

    return create_connection


class GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, allow: Allowlist, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection(allow)


class GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, allow: Allowlist, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection(allow)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow: Allowlist) -> None:
        super().__init__()
        self.allow = allow

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(GuardedHTTPConnection, req, allow=self.allow)  # type: ignore[arg-type]


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow: Allowlist, context: ssl.SSLContext | None = None) -> None:
        self.context = context or ssl.create_default_context()  # verifies certificates and host names
        super().__init__(context=self.context)
        self.allow = allow

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(GuardedHTTPSConnection, req, allow=self.allow,  # type: ignore[arg-type]
                            context=self.context)


class _GuardedRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Vets every hop before urllib follows it; no connection is made to a refused target."""

    max_redirections = 1000  # urllib's own count; `max_redirects` below is checked first

    def __init__(self, allow: Allowlist, max_redirects: int) -> None:
        super().__init__()
        self.allow = allow
        self.max_redirects = max_redirects

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                       headers: Any) -> Any:
        # urllib would refuse file:// with an HTTPError of its own; refuse every non-http(s) target alike.
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlsplit(target).scheme.lower() not in SCHEMES:
                fp.close()
                raise StageError("bad_source", f"refusing the redirect from {req.full_url} to {target}: "
                                               "only http and https URLs are fetched")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        hops = len(getattr(req, "redirect_dict", {}))
        try:
            if hops >= self.max_redirects:
                raise StageError("too_many_redirects", f"{req.full_url} redirected more than "
                                                       f"{self.max_redirects} times; giving up")
            try:
                vet_url(newurl, self.allow)
            except BlockedAddress as err:
                raise BlockedAddress(f"refusing the redirect from {req.full_url} to {newurl}: {err.detail}",
                                     err.detail, newurl) from None
            except StageError as err:
                raise StageError(err.reason, f"refusing the redirect from {req.full_url}: {err}") from None
        except StageError:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def build_opener(allow: Allowlist | Sequence[str] = (), *, max_redirects: int = MAX_REDIRECTS,
                 context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    """An opener that speaks only http(s), through the guard, with no proxies, files, ftp or data URLs."""
    rules = Allowlist.parse(allow)
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.UnknownHandler(), _GuardedHTTPHandler(rules),
                    _GuardedHTTPSHandler(rules, context), urllib.request.HTTPDefaultErrorHandler(),
                    _GuardedRedirectHandler(rules, max_redirects), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def open_url(url: str, *, allow: Allowlist | Sequence[str] = (), timeout: float = 60,
             headers: dict[str, str] | None = None, max_redirects: int = MAX_REDIRECTS,
             context: ssl.SSLContext | None = None) -> Any:
    """urllib.request.urlopen through the guard. Raises StageError for a refused URL, address or redirect,
    and urllib's errors (HTTPError, URLError) otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise StageError("bad_source", f"refusing to download {url}: only http and https URLs are fetched")
    request = urllib.request.Request(url, headers=headers or {})
    opener = build_opener(allow, max_redirects=max_redirects, context=context)
    try:
        return opener.open(request, timeout=timeout)
    except BlockedAddress as err:
        if err.url:  # refused at a redirect, and phrased so already
            raise
        # Refused by the connection itself (the first URL, or a name that changed its answer).
        raise BlockedAddress(f"refusing to download {url}: {err.detail}", err.detail, url) from None
