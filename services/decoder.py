"""Decoder: video object -> stable frame chunks (JPEGs) and 16 kHz audio in the bucket."""

from __future__ import annotations

import tempfile
from pathlib import Path

from google.protobuf.message import Message

from quilt import keys, topics
from quilt.ids import chunk_id
from quilt.stages.decode import decode_video
from quilt.stages.imaging import encode_jpeg
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main

DECODER_NAME = "pyav-stable-chunks-v1"


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.FetchedVideo)
    vid = message.video_id
    with tempfile.TemporaryDirectory(prefix="quilt-decode-") as tmp:
        local = Path(tmp) / Path(message.object_key).name
        ctx.store.get_file(message.object_key, local)
        decoded = decode_video(local)
    chunks = []
    for chunk in decoded.chunks:
        cid = chunk_id(vid, chunk.t_start, chunk.t_end)
        key = keys.frame_key(vid, cid)
        ctx.store.put_bytes(key, encode_jpeg(chunk.image), "image/jpeg")
        chunks.append(pb.FrameChunk(chunk_id=cid, t_start=chunk.t_start, t_end=chunk.t_end, image_key=key,
                                    sharpness=chunk.sharpness, phash=chunk.phash))
    audio_key = ""
    if decoded.audio.size:
        audio_key = keys.audio_key(vid)
        ctx.store.put_bytes(audio_key, decoded.audio.astype("<f4").tobytes())
    out = pb.DecodedMedia(video_id=vid, source=message.source, duration_s=decoded.duration_s,
                          audio_key=audio_key, sample_rate=decoded.sample_rate, chunks=chunks,
                          decoder=DECODER_NAME)
    return Result(outputs=[Output(topics.DECODED, vid, out)],
                  detail={"chunks": len(chunks), "duration_s": round(decoded.duration_s, 2),
                          "audio_s": round(decoded.audio.size / max(decoded.sample_rate, 1), 2)})


SPEC = ServiceSpec(name="decoder", inputs={topics.FETCHED: pb.FetchedVideo}, handle=handle)

if __name__ == "__main__":
    main(SPEC)
