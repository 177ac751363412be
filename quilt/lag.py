"""Consumer lag per service group and topic, read from the broker, for `quilt status`.

Lag is what a group has not consumed yet: the topic's end offset minus the group's committed
offset, summed over partitions (a partition the group never committed counts from the start of
its log). It is the number KEDA scales the services on in Kubernetes; here it shows which stage
a backlog waits for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quilt.config import SERVICES, Settings


@dataclass(frozen=True)
class GroupLag:
    group: str  # the service's consumer group (its faust app id)
    topic: str  # full topic name, prefix included
    end: int  # messages ever written to the topic (sum of end offsets)
    committed: int  # of those, consumed and committed by the group
    lag: int


def service_inputs() -> dict[str, list[str]]:
    """Consumer group -> the (unprefixed) topics it reads, from each service's own spec."""
    from importlib import import_module

    return {f"quilt-{name}": list(import_module(f"services.{name}").SPEC.inputs) for name in SERVICES}


def consumer_lag(settings: Settings, timeout_s: float = 5.0) -> list[GroupLag]:
    """Lag of every service group on each of its input topics; raises OSError when the broker cannot be reached."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    timeout_ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=timeout_ms)
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka, enable_auto_commit=False,
                                 request_timeout_ms=timeout_ms + 1000)
    except KafkaError as err:
        raise OSError(f"broker {settings.kafka} unreachable: {err}") from err
    try:
        rows = []
        for group, inputs in service_inputs().items():
            committed: dict[Any, Any] = (admin.list_group_offsets(group) or {}).get(group) or {}
            for topic in inputs:
                name = settings.topic(topic)
                partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or {0})]
                ends = consumer.end_offsets(partitions)
                starts = consumer.beginning_offsets(partitions)
                end = sum(ends.values())
                done = 0
                for tp in partitions:
                    meta = committed.get(tp)
                    offset = meta.offset if meta is not None and meta.offset >= 0 else starts.get(tp, 0)
                    done += min(offset, ends[tp])
                rows.append(GroupLag(group, name, end, done, end - done))
        return rows
    except KafkaError as err:
        raise OSError(f"broker {settings.kafka}: {err}") from err
    finally:
        consumer.close()
        admin.close()
