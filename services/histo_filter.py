"""Histology filter: every frame chunk scored by the classifier served from Triton."""

from __future__ import annotations

from google.protobuf.message import Message

from quilt import topics
from quilt.stages.histo import TritonHistoScorer
from quilt.stages.imaging import decode_jpeg
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def setup(ctx: Context) -> None:
    ctx.clients["scorer"] = TritonHistoScorer(ctx.settings.triton)


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.DecodedMedia)
    scorer: TritonHistoScorer = ctx.clients["scorer"]
    threshold = ctx.settings.histo_threshold
    images = [decode_jpeg(ctx.store.get_bytes(chunk.image_key)) for chunk in message.chunks]
    scores = scorer.score(images) if images else []
    scored = [pb.ScoredChunk(chunk=chunk, histo_score=score, keep=score >= threshold)
              for chunk, score in zip(message.chunks, scores, strict=True)]
    out = pb.FilteredFrames(video_id=message.video_id, source=message.source, chunks=scored,
                            model=scorer.name, threshold=threshold)
    return Result(outputs=[Output(topics.FILTERED, message.video_id, out)],
                  detail={"chunks": len(scored), "kept": sum(c.keep for c in scored)})


SPEC = ServiceSpec(name="histo_filter", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
