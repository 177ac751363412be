"""Fetcher: requested video -> video object in the bucket; also polls subscriptions and serves Submit."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf.message import Message

from quilt.adapters.config import Settings
from quilt.adapters.stage_params import fetch_params
from quilt.adapters.status import read_video_status
from quilt.adapters.store import ObjectStore
from quilt.core import keys, topics
from quilt.core.types import StageError
from quilt.ops.submit import Submitter, build_request
from quilt.ops.subscriptions import SubscriptionRegistry
from quilt.ops.takedown.markers import is_taken_down
from quilt.stages.fetch import Source, fetch_video, list_videos, parse_source, s3_store_for
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .control import ControlServicer
from .runtime import ServiceRunner, main


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.VideoRequest)
    if is_taken_down(ctx.store, message.video_id):
        # Withdrawn at its owner's request (`quilt takedown`): never fetched again.
        marker = keys.takedown_marker_key(message.video_id)
        raise StageError("taken_down", f"{message.video_id} was taken down ({marker}); it is not ingested again")
    earlier = read_video_status(ctx.store, message.video_id).get("fetcher", {})
    if earlier.get("state") == "done":
        # Dedup by video id: the video is already in the bucket and was passed on.
        return Result(state="skipped")
    s = ctx.settings

    def s3_for(source: Source) -> ObjectStore:
        return s3_store_for(source, s.s3, s.s3_access_key, s.s3_secret_key)

    with tempfile.TemporaryDirectory(prefix="quilt-fetch-") as tmp:
        fetched = fetch_video(parse_source(message.source), Path(tmp), fetch_params(s), s3_for=s3_for)
        key = keys.video_key(message.video_id, fetched.path.suffix.lower())
        ctx.store.put_file(key, fetched.path, "video/mp4")
    out = pb.FetchedVideo(video_id=message.video_id, source=message.source, object_key=key,
                          size_bytes=fetched.size_bytes, sha256=fetched.sha256, title=fetched.title)
    return Result(outputs=[Output(topics.FETCHED, message.video_id, out)],
                  detail={"object_key": key, "size_bytes": fetched.size_bytes, "title": fetched.title})


def _lister(ctx: Context) -> Callable[[str], list[tuple[str, str]]]:
    def lister(source: str) -> list[tuple[str, str]]:
        s3 = None
        if source.startswith("s3://"):
            s = ctx.settings
            s3 = s3_store_for(parse_source(source), s.s3, s.s3_access_key, s.s3_secret_key)
        return list_videos(source, s3=s3)

    return lister


class SharedSubmitter:
    """One producer, opened on first use, shared by the Submit RPC and the subscription poller."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._submitter: Submitter | None = None
        self._lock = threading.Lock()

    def send(self, requests: list[pb.VideoRequest]) -> None:
        with self._lock:
            if self._submitter is None:
                self._submitter = Submitter(self.settings)
        self._submitter.send(requests)


def poll_forever(runner: ServiceRunner, requests: SharedSubmitter, stop: threading.Event) -> None:
    """Submit each new video of each subscription exactly once (the registry remembers what it saw)."""
    ctx = runner.ctx
    registry = SubscriptionRegistry(ctx.store)
    last_poll: dict[str, float] = {}

    def submitter_for(sub_id: str) -> Callable[[str, str], None]:
        return lambda video_id, source: requests.send([build_request(source, subscription_id=sub_id)])

    while not stop.wait(1.0):
        for sub in registry.list():
            if time.monotonic() - last_poll.get(sub.sub_id, -1e9) < sub.interval_s:
                continue
            last_poll[sub.sub_id] = time.monotonic()
            try:
                new = registry.poll(sub, _lister(ctx), submitter_for(sub.sub_id))
                if new:
                    ctx.log.info("subscription polled", subscription=sub.source, submitted=len(new))
            except Exception as err:  # noqa: BLE001 - a bad subscription must not stop the others
                ctx.log.error("subscription poll failed", subscription=sub.source, error=repr(err))


def control(runner: ServiceRunner) -> ControlServicer:
    requests = SharedSubmitter(runner.settings)

    def submit(sources: list[str]) -> list[tuple[str, str]]:
        made = [build_request(source) for source in sources]
        requests.send(made)
        return [(r.video_id, r.source) for r in made]

    stop = threading.Event()
    threading.Thread(target=poll_forever, args=(runner, requests, stop), daemon=True, name="subscriptions").start()
    return ControlServicer("fetcher", runner.counters, submit=submit)

SPEC = ServiceSpec(name="fetcher", inputs={topics.REQUESTED: pb.VideoRequest}, handle=handle)

if __name__ == "__main__":
    main(SPEC, control_factory=control)
