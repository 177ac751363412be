"""Secrets from files, never printed; the embedded stack listens on loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest

from quilt.adapters.config import SECRET_FIELDS, ConfigError, load_settings
from quilt.stack.launcher import Stack
from quilt.stack.processes import group_members


def test_secrets_come_from_files_and_never_show_in_repr(tmp_path: Path) -> None:
    secret = tmp_path / "s3-secret"
    secret.write_text("sk-from-a-mounted-secret\n")
    settings = load_settings({"QUILT_S3_SECRET_KEY_FILE": str(secret), "QUILT_S3_ACCESS_KEY": "ak-from-env"})
    assert settings.s3_secret_key == "sk-from-a-mounted-secret" and settings.s3_access_key == "ak-from-env"
    shown = repr(settings) + str(settings)
    assert "sk-from-a-mounted-secret" not in shown and "ak-from-env" not in shown and "s3_secret_key='***'" in shown
    assert set(SECRET_FIELDS) >= {"s3_access_key", "s3_secret_key"}


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="QUILT_S3_SECRET_KEY_FILE=.*cannot read"):
        load_settings({"QUILT_S3_SECRET_KEY_FILE": str(tmp_path / "missing")})


def _listening_inodes() -> dict[int, str]:
    """Socket inode -> local address of every listening TCP socket on the machine."""
    found = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A":  # LISTEN
                continue
            address = parts[1].split(":")[0]
            found[int(parts[9])] = _address(address, width)
    return found


def _address(hex_address: str, width: int) -> str:
    import ipaddress

    raw = bytes.fromhex(hex_address)
    if width == 8:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # /proc prints each 32-bit word little-endian
    ip = ipaddress.IPv6Address(words)
    return str(ip.ipv4_mapped or ip)


@pytest.mark.integration
def test_every_stack_process_listens_on_loopback_only(stack: Stack) -> None:
    listening = _listening_inodes()
    seen: dict[str, list[str]] = {}
    for state in stack.status():
        assert state.pid, f"{state.name} is not running"
        for pid in group_members(state.pid) or [state.pid]:
            for fd in Path(f"/proc/{pid}/fd").glob("*"):
                try:
                    target = fd.readlink().as_posix()
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inode = int(target[8:-1])
                    if inode in listening:
                        seen.setdefault(state.name, []).append(listening[inode])
    print({name: sorted(set(addresses)) for name, addresses in seen.items()})
    assert {"s3", "broker", "triton", "fetcher", "aligner"} <= set(seen)  # each of these does listen
    exposed = {name: a for name, addresses in seen.items() for a in addresses if a not in ("127.0.0.1", "::1")}
    assert exposed == {}
