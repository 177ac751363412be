"""Reading a topic without a consumer group: every partition assigned by hand.

kafka-python's group consumer can hang joining the embedded broker (see STACK.md), and
reading the pair or dead-letter topic needs no group: the commands and tests use this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from quilt.adapters.config import Settings
from quilt.adapters.kafka_client import kafka_python_options


@contextmanager
def assigned_consumer(settings: Settings, topic: str, from_beginning: bool = True,
                      idle_timeout_s: float = 1.0) -> Iterator[Any]:
    """A consumer over all partitions of `topic` (unprefixed); iterating it stops after `idle_timeout_s` idle."""
    from kafka import KafkaConsumer, TopicPartition

    name = settings.topic(topic)
    consumer = KafkaConsumer(**kafka_python_options(settings), enable_auto_commit=False,
                             consumer_timeout_ms=int(idle_timeout_s * 1000))
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or {0})]
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.seek_to_end(*partitions)
        yield consumer
    finally:
        consumer.close()


def read_all(settings: Settings, topic: str, idle_timeout_s: float = 3.0) -> list[Any]:
    """Every record now on `topic`, oldest first per partition."""
    with assigned_consumer(settings, topic, idle_timeout_s=idle_timeout_s) as consumer:
        return list(consumer)
