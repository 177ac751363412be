"""ASR: decoded audio -> Whisper transcript, with Whisper served by Triton."""

from __future__ import annotations

import numpy as np
from google.protobuf.message import Message

from quilt import topics
from quilt.stages.asr import TritonTranscriber
from quilt.wire import segments_to_pb
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def setup(ctx: Context) -> None:
    ctx.clients["transcriber"] = TritonTranscriber(ctx.settings.triton)


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.DecodedMedia)
    transcriber: TritonTranscriber = ctx.clients["transcriber"]
    segments = []
    if message.audio_key:
        audio = np.frombuffer(ctx.store.get_bytes(message.audio_key), dtype="<f4")
        segments = transcriber.transcribe(audio, message.sample_rate or 16000)
    out = pb.Transcript(video_id=message.video_id, source=message.source, model=transcriber.name,
                        segments=segments_to_pb(segments))
    return Result(outputs=[Output(topics.TRANSCRIPTS, message.video_id, out)],
                  detail={"segments": len(segments), "words": sum(len(s.words) for s in segments)})


SPEC = ServiceSpec(name="asr", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
