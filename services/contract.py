"""What a stage service declares, and what its handler returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from google.protobuf.message import Message

from quilt.adapters.config import Settings
from quilt.adapters.store import ObjectStore


@dataclass
class Output:
    """One message to produce, on a topic named without the prefix (see quilt.core.topics)."""

    topic: str
    key: str
    message: Message


@dataclass
class Result:
    outputs: list[Output] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)  # goes into the status object
    state: str = "done"  # done | skipped | waiting


@dataclass
class Context:
    settings: Settings
    store: ObjectStore
    log: structlog.stdlib.BoundLogger
    clients: dict[str, Any] = field(default_factory=dict)  # Triton clients etc., built by setup


Handler = Callable[[Context, str, Message], Result]


@dataclass
class ServiceSpec:
    name: str
    inputs: dict[str, type[Message]]  # topic (unprefixed) -> message class
    handle: Handler
    setup: Callable[[Context], None] | None = None
    max_attempts: int = 4  # for retryable (non-StageError) failures, before dead-lettering
