"""Publishing video requests: shared by `quilt submit`, the fetcher's Submit RPC and subscriptions."""

from __future__ import annotations

from quilt.adapters.config import Settings
from quilt.adapters.kafka_client import kafka_python_options
from quilt.adapters.schema import header_for
from quilt.core import topics
from quilt.core.time_util import now_iso
from quilt.stages.fetch.sources import parse_source, video_id_for
from quiltpb.v1 import messages_pb2 as pb


def build_request(source: str, subscription_id: str = "") -> pb.VideoRequest:
    """Validate a source and make its request; raises StageError for a bad source."""
    parsed = parse_source(source)
    if parsed.kind in ("youtube_playlist", "youtube_channel"):
        raise ValueError(f"{source} is a playlist or channel: use `quilt subscribe` for it")
    return pb.VideoRequest(video_id=video_id_for(parsed), source=parsed.uri, requested_at=now_iso(),
                           subscription_id=subscription_id)


class Submitter:
    """A kafka-python producer for the requested-videos topic (a plain producer works with any broker)."""

    def __init__(self, settings: Settings) -> None:
        from kafka import KafkaProducer

        self.topic = settings.topic(topics.REQUESTED)
        self.producer = KafkaProducer(**kafka_python_options(settings), acks="all", retries=5,
                                      enable_idempotence=True, request_timeout_ms=30000)

    def send(self, requests: list[pb.VideoRequest]) -> None:
        futures = [self.producer.send(self.topic, key=r.video_id.encode(), value=r.SerializeToString(),
                                      headers=header_for(r))
                   for r in requests]
        self.producer.flush()
        for fut in futures:
            fut.get(timeout=30)

    def close(self) -> None:
        self.producer.close()
