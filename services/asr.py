"""ASR: decoded audio windows -> Whisper transcript, with Whisper served by Triton."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from google.protobuf.message import Message

from quilt import topics
from quilt.stages.asr import TritonTranscriber
from quilt.stages.asr_windows import transcribe_windows
from quilt.wire import segments_to_pb
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def setup(ctx: Context) -> None:
    ctx.clients["transcriber"] = TritonTranscriber(ctx.settings.triton)


def _windows(ctx: Context, message: pb.DecodedMedia) -> Iterator[tuple[float, np.ndarray]]:
    # One window in memory at a time: fetched just before it is transcribed.
    for window in message.audio_windows:
        yield window.t_start, np.frombuffer(ctx.store.get_bytes(window.key), dtype="<f4")


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.DecodedMedia)
    transcriber: TritonTranscriber = ctx.clients["transcriber"]
    segments = [segment for batch in transcribe_windows(transcriber, _windows(ctx, message),
                                                        message.sample_rate or 16000)
                for segment in batch]
    out = pb.Transcript(video_id=message.video_id, source=message.source, model=transcriber.name,
                        segments=segments_to_pb(segments))
    return Result(outputs=[Output(topics.TRANSCRIPTS, message.video_id, out)],
                  detail={"segments": len(segments), "words": sum(len(s.words) for s in segments),
                          "windows": len(message.audio_windows)})


SPEC = ServiceSpec(name="asr", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
