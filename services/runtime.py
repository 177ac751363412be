"""Runs a ServiceSpec as a faust worker with gRPC control, Prometheus metrics and a dead-letter path.

The loop for each message: parse -> handler (in a thread, so the consumer keeps
heart-beating) -> outputs produced and acknowledged by the broker -> status
object written -> the event is acked, and faust commits the offset. A crash
anywhere before the commit replays the message; handlers use deterministic
keys, so a replay overwrites instead of duplicating.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
from google.protobuf.message import DecodeError, Message
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from quilt.adapters import schema
from quilt.adapters.config import Settings, load_settings
from quilt.adapters.kafka_client import faust_credentials
from quilt.adapters.logs import configure_logging
from quilt.adapters.status import status_key, write_status
from quilt.adapters.store import BadKey, S3Store, check_key
from quilt.core import topics
from quilt.core.time_util import now_iso
from quilt.core.types import StageError
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .control import ControlServer, ControlServicer, Counters

MESSAGES = Counter("quilt_messages_total", "Messages handled", ["service", "outcome"])
SECONDS = Histogram("quilt_stage_seconds", "Handler wall time", ["service"],
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300))
IN_FLIGHT = Gauge("quilt_in_flight", "Messages being handled", ["service"])
PRODUCED = Counter("quilt_produced_total", "Messages produced", ["service", "topic"])
DURABLE_RETRIES = Counter("quilt_durable_write_retries_total", "Failed writes of results, retried",
                          ["service", "what"])
LETTER_INPUT_MAX = 256 * 1024  # bytes of the original message a dead letter keeps


def build_app(spec: ServiceSpec, settings: Settings) -> faust.App:
    datadir = Path(settings.data_dir) / "faust" / spec.name
    datadir.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    # A short rebalance timeout: the broker here answers a join only after it,
    # so the default (60 s) would stall every start.
    return faust.App(
        f"quilt-{spec.name}",
        broker=f"kafka://{settings.kafka}",
        broker_credentials=faust_credentials(settings),  # TLS / SASL from the settings; None = plain
        # Under the data directory, not the working directory: a read-only image (Kubernetes) or a checkout
        # must not get faust's `<app id>-data` folder.
        datadir=str(datadir),
        web_enabled=False,
        store="memory://",
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=3.0,
        # A killed worker's partitions move to its replacement once its session lapses: keep that short.
        broker_session_timeout=8.0,
        broker_heartbeat_interval=1.0,
        broker_commit_every=1,
        broker_commit_interval=1.0,
        producer_acks=-1,
        stream_buffer_maxsize=16,
        logging_config=None,
    )


class ServiceRunner:
    def __init__(self, spec: ServiceSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.log = configure_logging(spec.name)
        store = S3Store(settings.s3, settings.s3_access_key, settings.s3_secret_key, settings.bucket,
                        secure=settings.s3_secure)
        self.ctx = Context(settings=settings, store=store, log=self.log)
        self.counters = Counters()
        self.app = build_app(spec, settings)
        self.out_topics: dict[str, Any] = {}

    def out_topic(self, name: str) -> Any:
        if name not in self.out_topics:
            self.out_topics[name] = self.app.topic(self.settings.topic(name), key_serializer="raw",
                                                   value_serializer="raw")
        return self.out_topics[name]

    async def produce(self, outputs: list[Output]) -> None:
        for out in outputs:
            headers = {schema.HEADER: schema.schema_name(out.message).encode()}
            fut = await self.out_topic(out.topic).send(key=out.key.encode(), value=out.message.SerializeToString(),
                                                       headers=headers)
            await fut  # wait for the broker's ack: outputs are durable before the input is committed
            PRODUCED.labels(self.spec.name, out.topic).inc()

    async def dead_letter(self, video_id: str, topic: str, raw: bytes, reason: str, message: str,
                          retryable: bool, attempts: int) -> None:
        # An oversized input is kept only in part: the letter itself must fit on the topic.
        truncated = len(raw) > LETTER_INPUT_MAX
        letter = pb.DeadLetter(video_id=video_id, stage=self.spec.name, reason=reason, message=message,
                               input_topic=topic, input_value=raw[:LETTER_INPUT_MAX] if truncated else raw,
                               failed_at=now_iso(), retryable=retryable, attempts=attempts,
                               input_truncated=truncated)
        await self.produce([Output(topics.DEADLETTER, video_id or "unknown", letter)])

    def refusal(self, short: str, video_id: str, raw: bytes, headers: Any) -> tuple[str, str, Message | None]:
        """(reason, message, None) for an input no handler should see; ("", "", parsed) otherwise."""
        expected = self.spec.inputs[short]
        try:
            check_key(status_key(video_id, self.spec.name))  # the message key names the video's objects
        except BadKey as err:
            return "bad_key", f"message key {video_id!r} cannot name a video: {err}", None
        if len(raw) > self.settings.max_message_bytes:
            return ("oversized_message", f"{len(raw)} bytes on {short}, over the limit of "
                    f"{self.settings.max_message_bytes} (setting max_message_bytes)", None)
        mismatch = schema.schema_mismatch(headers, expected)
        if mismatch:
            return "wrong_schema", mismatch, None
        message: Message = expected()
        try:
            message.ParseFromString(raw)
        except DecodeError as err:
            return "bad_message", f"cannot parse {short} as {schema.schema_name(expected)}: {err}", None
        if not getattr(message, "video_id", ""):  # every message of the pipeline names its video
            return ("bad_message", f"{short}: the message parsed as {schema.schema_name(expected)} but has no video_id",
                    None)
        return "", "", message

    async def handle_event(self, topic: str, key: bytes | None, raw: bytes, headers: Any = None) -> None:
        video_id = (key or b"").decode("utf-8", "replace")
        log = self.log.bind(video_id=video_id, topic=topic)
        short = topic.removeprefix(self.settings.topic_prefix)
        started = time.monotonic()
        self.counters.in_flight += 1
        IN_FLIGHT.labels(self.spec.name).inc()
        try:
            reason, why, parsed = self.refusal(short, video_id, raw, headers)
            if parsed is None:
                await self.fail(video_id, topic, raw, reason, why, False, 1, log)
                return
            message = parsed
            result = await self.run_with_retries(short, message, log)
            if isinstance(result, tuple):
                reason, text, retryable, attempts = result
                await self.fail(video_id, topic, raw, reason, text, retryable, attempts, log)
                return
            await self.durably("outputs", lambda: self.produce(result.outputs), log)
            seconds = time.monotonic() - started
            if result.state != "skipped":  # keep the earlier, informative status of a duplicate
                await self.durably("status", lambda: asyncio.to_thread(
                    write_status, self.ctx.store, video_id, self.spec.name, result.state, detail=result.detail,
                    seconds=seconds), log)
            self.counters.record(video_id, result.state)
            MESSAGES.labels(self.spec.name, result.state).inc()
            SECONDS.labels(self.spec.name).observe(seconds)
            log.info("handled", state=result.state, seconds=round(seconds, 3), outputs=len(result.outputs))
        finally:
            self.counters.in_flight -= 1
            IN_FLIGHT.labels(self.spec.name).dec()

    async def durably(self, what: str, write: Callable[[], Awaitable[Any]], log: Any) -> None:
        """Retry a write of the handler's result (outputs, a dead letter, a status) until it succeeds.

        These writes come after the work is done and before the offset is committed. Raising here
        would crash faust's agent, and the supervisor's restart would move past the message: the
        video would be stuck. A broker or store that is down (or full) blocks this partition instead,
        with capped backoff, and the message is committed only once its results are durable.
        """
        delay = 1.0
        while True:
            try:
                await write()
                return
            except Exception as err:  # noqa: BLE001 - any failure to write is retried; the data is in hand
                DURABLE_RETRIES.labels(self.spec.name, what).inc()
                log.warning("write failed, retrying", what=what, error=repr(err)[:300], retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def run_with_retries(self, short: str, message: Message,
                               log: Any) -> Result | tuple[str, str, bool, int]:
        """The handler's result, or (reason, message, retryable, attempts) once it has failed for good."""
        for attempt in range(1, self.spec.max_attempts + 1):
            try:
                return await asyncio.to_thread(self.spec.handle, self.ctx, short, message)
            except StageError as err:
                return err.reason, str(err), False, attempt
            except Exception as err:  # noqa: BLE001 - anything else is treated as transient
                log.warning("attempt failed", attempt=attempt, error=repr(err))
                if attempt == self.spec.max_attempts:
                    return ("transient_error", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}", True,
                            attempt)
                await asyncio.sleep(min(2.0 ** attempt, 30.0))
        raise AssertionError("unreachable")

    async def fail(self, video_id: str, topic: str, raw: bytes, reason: str, text: str, retryable: bool,
                   attempts: int, log: Any) -> None:
        await self.durably("dead letter", lambda: self.dead_letter(video_id, topic, raw, reason, text, retryable,
                                                                   attempts), log)
        try:
            check_key(status_key(video_id, self.spec.name))
        except BadKey as err:  # an empty or hostile message key names no status object: the letter is the record
            log.error("failed", reason=reason, message=text[:500], status_skipped=str(err))
            return
        await self.durably("status", lambda: asyncio.to_thread(
            write_status, self.ctx.store, video_id, self.spec.name, "failed", reason=reason, message=text[:2000],
            detail={"attempts": attempts}), log)
        self.counters.record(video_id, "failed", reason)
        MESSAGES.labels(self.spec.name, "failed").inc()
        log.error("failed", reason=reason, message=text[:500], retryable=retryable, attempts=attempts)

    def register_agent(self) -> None:
        channel = self.app.topic(*[self.settings.topic(name) for name in self.spec.inputs],
                                 key_serializer="raw", value_serializer="raw")

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                await self.handle_event(event.message.topic, event.key, event.value, event.message.headers)

        self.app.agent(channel, name=f"{self.spec.name}-agent", concurrency=1)(agent)

    def run(self, control: ControlServicer | None = None) -> None:
        if self.spec.setup is not None:
            self.spec.setup(self.ctx)
        self.register_agent()
        address = f"{self.settings.host}:{self.settings.service_grpc_port(self.spec.name)}"
        server = ControlServer(self.spec.name, address, control or ControlServicer(self.spec.name, self.counters))
        server.start()
        start_http_server(self.settings.service_metrics_port(self.spec.name), addr=self.settings.host)

        @self.app.on_rebalance_complete.connect  # type: ignore[arg-type]
        async def ready(sender: Any, **kwargs: Any) -> None:
            server.set_serving(True)

        self.log.info("starting", grpc=address, kafka=self.settings.kafka)
        worker = faust.Worker(self.app, loglevel="WARNING", override_logging=False, quiet=True)
        try:
            worker.execute_from_commandline()
        finally:
            server.stop()
            self.log.info("stopped")


def main(spec: ServiceSpec, control_factory: Any = None) -> None:
    settings = load_settings()
    runner = ServiceRunner(spec, settings)
    control = control_factory(runner) if control_factory else None
    runner.run(control)
