"""Consumer lag per service group and topic, read from the broker, for `quilt status`.

Lag is what a group has not consumed yet: the topic's end offset minus the group's committed
offset, summed over partitions (a partition the group never committed counts from the start of
its log). It is the number KEDA scales the services on in Kubernetes; here it shows which stage
a backlog waits for. The training job's group (`quilt-trainer`, on the pair topic) is shown once
a trainer has committed to it: before that there is no trainer whose lag would mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quilt.adapters.config import SERVICES, Settings
from quilt.adapters.kafka_client import kafka_python_options
from quilt.core import topics


@dataclass(frozen=True)
class GroupLag:
    group: str  # the service's consumer group (its faust app id)
    topic: str  # full topic name, prefix included
    end: int  # messages ever written to the topic (sum of end offsets)
    committed: int  # of those, consumed and committed by the group
    lag: int


TRAINER_GROUP = "quilt-trainer"  # training/sources.py commits here after each checkpoint


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
        admin = KafkaAdminClient(**kafka_python_options(settings), request_timeout_ms=timeout_ms)
        consumer = KafkaConsumer(**kafka_python_options(settings), enable_auto_commit=False,
                                 request_timeout_ms=timeout_ms + 1000)
    except KafkaError as err:
        raise OSError(f"broker {settings.kafka} unreachable: {err}") from err
    try:
        rows = []
        groups = {**service_inputs(), TRAINER_GROUP: [topics.PAIRS]}
        for group, inputs in groups.items():
            committed: dict[Any, Any] = (admin.list_group_offsets(group) or {}).get(group) or {}
            if group == TRAINER_GROUP and not committed:
                continue
            for topic in inputs:
                name = settings.topic(topic)
                partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or {0})]
                starts = consumer.beginning_offsets(partitions)
                ends = true_ends(consumer, consumer.end_offsets(partitions), committed)
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


def true_ends(consumer: Any, reported: dict[Any, int], committed: dict[Any, Any], polls: int = 3) -> dict[Any, int]:
    """End offsets, checked by reading past the reported end.

    Tansu 0.6 with its S3 storage engine (the embedded stack) reports a high watermark that stops
    moving after the first record batch: 1 for a partition holding 81 records in three batches.
    Reading from the group's committed offset (or the reported end) to the last record gives the
    true end; against Apache Kafka that read returns nothing, or the one record before the end.
    """
    ends = dict(reported)
    for tp, end in reported.items():
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset >= 0 else 0
        ends[tp] = max(end, done)  # a group cannot have consumed records that are not there
        start = max(done, end - 1, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        for _ in range(polls):
            batch = consumer.poll(timeout_ms=300).get(tp, [])
            if not batch:
                break
            ends[tp] = max(ends[tp], batch[-1].offset + 1)
    return ends


def commit_group_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int],
                         timeout_s: float = 5.0, options: dict[str, Any] | None = None) -> None:
    """Record `group`'s next offsets on `topic` without joining the group (it has no members)."""
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    try:
        admin = KafkaAdminClient(**{"bootstrap_servers": bootstrap, **(options or {})},
                                 request_timeout_ms=int(timeout_s * 1000))
    except KafkaError as err:
        raise OSError(f"broker {bootstrap} unreachable: {err}") from err
    try:
        results = admin.alter_group_offsets(group, {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1)
                                                    for p, o in offsets.items()})
        failed = {tp.partition: err.__name__ for tp, err in (results or {}).items() if err.__name__ != "NoError"}
        if failed:
            raise OSError(f"broker {bootstrap} refused {group}'s offsets on {topic}: {failed}")
    except KafkaError as err:
        raise OSError(f"broker {bootstrap}: {err}") from err
    finally:
        admin.close()
