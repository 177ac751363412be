"""Denoiser: raw transcript -> corrected sentences, medical ones marked."""

from __future__ import annotations

from google.protobuf.message import Message

from quilt import topics
from quilt.stages.denoise import DENOISER_NAME, denoise, load_lexicon
from quilt.wire import segments_from_pb, sentences_to_pb
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def setup(ctx: Context) -> None:
    ctx.clients["lexicon"] = load_lexicon()


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.Transcript)
    sentences = denoise(segments_from_pb(list(message.segments)), ctx.clients["lexicon"])
    out = pb.DenoisedText(video_id=message.video_id, source=message.source,
                          sentences=sentences_to_pb(sentences),
                          models={"asr": message.model, "denoiser": DENOISER_NAME})
    return Result(outputs=[Output(topics.DENOISED, message.video_id, out)],
                  detail={"sentences": len(sentences), "medical": sum(s.medical for s in sentences),
                          "corrections": sum(len(s.corrections) for s in sentences)})


SPEC = ServiceSpec(name="denoiser", inputs={topics.TRANSCRIPTS: pb.Transcript}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
