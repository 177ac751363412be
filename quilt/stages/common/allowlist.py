"""The `fetch_allow` setting: non-public addresses, CIDR blocks and host names downloads may still use.

Parsed here, apart from the network guard (quilt/stages/fetch/net_guard.py) that enforces it, so that
the settings can validate it at start-up without importing the fetch stage and its media code.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING = "fetch_allow"  # named in messages: the setting that feeds `allow`
HOST_ENTRY = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


def parse_allow(text: str) -> tuple[str, ...]:
    """The comma-separated setting as a list of entries (blank entries dropped)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class Allowlist:
    """Addresses (CIDR blocks or single IPs) and host names that may be fetched from although not public.

    A host name matches exactly (case-insensitive, trailing dot ignored) or, written "*.example.org",
    any name under example.org. An allowlisted host may resolve to anything; an allowlisted block
    lets any host whose addresses all fall in it (or are public) through.
    """

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str] | Allowlist) -> Allowlist:
        """Raises ValueError naming an entry that is neither an address, a CIDR block nor a host name."""
        if isinstance(entries, Allowlist):
            return entries
        if isinstance(entries, str):  # a bare setting string rather than a list of entries
            entries = parse_allow(entries)
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            if not HOST_ENTRY.match(name):
                raise ValueError(f"{ALLOW_SETTING} entry {entry!r} is neither an IP address, a CIDR block "
                                 "nor a host name")
            hosts.add(name)
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        name = host.lower().rstrip(".").strip("[]")
        if name in self.hosts:
            return True
        return any(entry.startswith("*.") and name.endswith(entry[1:]) for entry in self.hosts)

    def allows_address(self, ip: IPAddress) -> bool:
        candidates = {ip, unmapped(ip)}
        return any(c.version == net.version and c in net for c in candidates for net in self.networks)


def unmapped(ip: IPAddress) -> IPAddress:
    """::ffff:a.b.c.d is a.b.c.d on the wire of a dual-stack socket."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
