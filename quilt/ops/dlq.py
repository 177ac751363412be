"""The dead-letter topic: what failed for good, where, why and after how many attempts, and replaying it.

Every service sends a message it cannot handle (unparseable, a StageError, or a transient error that
outlived its retries) to the dead-letter topic with the original bytes, so nothing is lost: once the
cause is fixed (a model loaded, a bucket back, a bug deployed away), `replay` puts the original
message back on its input topic. A letter is checked before it is sent (`replay_refusal`): only to its own
stage's input topic, only bytes that parse as that topic's message type, only for the video it names, so a
forged letter cannot put junk on the pair topic or any other. A replay leaves a marker per letter in the bucket
(`dlq/replayed/<topic>-<partition>-<offset>.json`), so running it twice does not send a letter twice;
the stages are idempotent anyway, so even a forced second replay duplicates no pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError, Message

from quilt.adapters import schema
from quilt.adapters.config import Settings
from quilt.adapters.kafka_client import kafka_python_options
from quilt.adapters.store import ObjectStore, put_json
from quilt.core import keys, topics
from quilt.core.time_util import now_iso
from quiltpb.v1 import messages_pb2 as pb

MARKER_PREFIX = keys.DLQ_REPLAYED_PREFIX
# The message itself was bad: replaying the same bytes can only fail the same way.
UNREPLAYABLE = ("bad_message", "wrong_schema", "oversized_message")


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    letter: pb.DeadLetter
    readable: bool = True  # False: the dead-letter record itself could not be parsed

    @property
    def marker(self) -> str:
        return keys.dlq_replay_marker_key(topics.DEADLETTER, self.partition, self.offset)


@dataclass(frozen=True)
class LetterFilter:
    video: str = ""
    stage: str = ""
    reason: str = ""
    retryable_only: bool = False

    def matches(self, item: Letter) -> bool:
        letter = item.letter
        return ((not self.video or letter.video_id == self.video) and (not self.stage or letter.stage == self.stage)
                and (not self.reason or letter.reason == self.reason)
                and (not self.retryable_only or letter.retryable))


def parse_letters(records: Iterable[object]) -> Iterator[Letter]:
    """Dead-letter records from kafka-python ConsumerRecords (anything with partition, offset, value, key)."""
    for record in records:
        partition, offset = int(record.partition), int(record.offset)  # type: ignore[attr-defined]
        value = record.value or b""  # type: ignore[attr-defined]
        try:
            yield Letter(partition, offset, pb.DeadLetter.FromString(value))
        except DecodeError:
            key = (record.key or b"").decode("utf-8", "replace")  # type: ignore[attr-defined]
            yield Letter(partition, offset, pb.DeadLetter(video_id=key, reason="unreadable_letter",
                                                          message=f"{len(value)} bytes that are not a DeadLetter"),
                         readable=False)


def read_letters(settings: Settings, idle_timeout_s: float = 2.0) -> list[Letter]:
    from quilt.adapters.topic_reader import read_all

    return list(parse_letters(read_all(settings, topics.DEADLETTER, idle_timeout_s=idle_timeout_s)))


def stage_inputs(settings: Settings) -> dict[str, dict[str, type[Message]]]:
    """Stage (service) name -> its input topics (full names) and the message type each carries."""
    from importlib import import_module

    from quilt.adapters.config import SERVICES

    return {name: {settings.topic(topic): kind for topic, kind in import_module(f"services.{name}").SPEC.inputs.items()}
            for name in SERVICES}


def input_types(settings: Settings) -> dict[str, type[Message]]:
    """Full topic name -> the message type the service reading it expects (from each service's spec)."""
    return {topic: kind for inputs in stage_inputs(settings).values() for topic, kind in inputs.items()}


def replay_refusal(letter: pb.DeadLetter, inputs: dict[str, dict[str, type[Message]]]) -> str:
    """Why this letter must not be replayed ("" when it may be): a letter is data anyone able to produce
    could have forged, so it goes back only to its own stage's input topic, as that topic's message type,
    for the video it names."""
    topics_of_stage = inputs.get(letter.stage)
    if topics_of_stage is None:
        return f"names no stage of this pipeline ({letter.stage[:40]!r})"
    kind = topics_of_stage.get(letter.input_topic)
    if kind is None:
        return f"{letter.input_topic[:60]!r} is not an input topic of the {letter.stage} stage"
    try:
        message = kind.FromString(bytes(letter.input_value))
    except DecodeError:
        return f"its bytes are not a {kind.__name__}, the message type of {letter.input_topic}"
    named = getattr(message, "video_id", "")
    if named != letter.video_id:
        return f"its message is for video {named[:40]!r}, the letter for {letter.video_id[:40]!r}"
    return ""


def replayed(store: ObjectStore, item: Letter) -> bool:
    return store.exists(item.marker)


@dataclass
class ReplayOutcome:
    replayed: list[Letter]
    skipped: list[Letter]  # replayed before (marker present) and not forced
    refused: list[Letter]  # an unreadable or truncated letter, no input topic, or a message bad in itself
    why: dict[tuple[int, int], str] = field(default_factory=dict)  # (partition, offset) of a refused letter -> why


def replay(settings: Settings, store: ObjectStore, letters: Iterable[Letter], *, again: bool = False,
           dry_run: bool = False) -> ReplayOutcome:
    """Put each letter's original message back on its input topic, acknowledged by the broker, then mark it."""
    outcome = ReplayOutcome([], [], [])
    todo = []
    inputs = stage_inputs(settings)
    for item in letters:
        letter = item.letter
        refusal = replay_refusal(letter, inputs) if item.readable and letter.input_topic else ""
        if (not item.readable or not letter.input_topic or letter.input_truncated
                or letter.reason in UNREPLAYABLE or refusal):
            outcome.refused.append(item)
            outcome.why[(item.partition, item.offset)] = refusal or letter.message
        elif replayed(store, item) and not again:
            outcome.skipped.append(item)
        else:
            todo.append(item)
    if dry_run or not todo:
        outcome.replayed.extend(todo)
        return outcome
    from kafka import KafkaProducer

    producer = KafkaProducer(**kafka_python_options(settings), acks="all", retries=5, enable_idempotence=True)
    types = input_types(settings)
    try:
        for item in todo:
            letter = item.letter
            kind = types.get(letter.input_topic)
            future = producer.send(letter.input_topic, key=letter.video_id.encode() or None,
                                   value=bytes(letter.input_value),
                                   headers=[(schema.HEADER, schema.schema_name(kind).encode())] if kind else None)
            future.get(timeout=30)  # acknowledged before the marker says it was replayed
            put_json(store, item.marker, {"video_id": letter.video_id, "stage": letter.stage,
                                          "reason": letter.reason, "input_topic": letter.input_topic,
                                          "replayed_at": now_iso()})
            outcome.replayed.append(item)
    finally:
        producer.close()
    return outcome
