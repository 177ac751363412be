"""Which schema a message on a topic has: a Kafka header naming the protobuf type, checked on consume.

Protobuf parses nearly any bytes as nearly any message, so a v2 message, or a message meant for
another topic, would be read as garbage rather than refused. Every producer of the project names
the type it wrote in the `quilt-schema` header (`quiltpb.v1.VideoRequest`); a consumer refuses a
message whose header names another type (reason `wrong_schema`). A message without the header (a
producer outside the project) is parsed as before, and must still carry a video id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf.message import Message

HEADER = "quilt-schema"


def schema_name(message: Message | type[Message]) -> str:
    return str(message.DESCRIPTOR.full_name)


def header_for(message: Message) -> list[tuple[str, bytes]]:
    """kafka-python style headers naming the message's type."""
    return [(HEADER, schema_name(message).encode())]


def header_value(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str | None:
    """The `quilt-schema` header from faust (a mapping) or kafka-python (a list of pairs); None when absent."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        key_text = key.decode() if isinstance(key, bytes) else str(key)
        if key_text == HEADER:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def schema_mismatch(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
                    expected: type[Message]) -> str:
    """A message for people when the header names another type than `expected`; empty when fine or absent."""
    found = header_value(headers)
    want = schema_name(expected)
    if found is None or found == want:
        return ""
    return f"the message is {found!r} (header {HEADER}), this topic carries {want!r}"
