"""Decoder: video object -> stable frame chunks (JPEGs) and 16 kHz audio windows in the bucket.

Audio goes to the bucket window by window as it is decoded, and chunks that are
near-duplicates of another video's images (a re-uploaded lecture) are dropped
against the perceptual-hash index kept in the bucket.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from google.protobuf.message import Message

from quilt import keys, topics
from quilt.ids import chunk_id
from quilt.stages.decode import AUDIO_RATE, AUDIO_WINDOW_S, DECODER_NAME, decode_frames, iter_audio
from quilt.stages.phash_index import PhashIndex
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.FetchedVideo)
    vid = message.video_id
    index = PhashIndex(ctx.store, keys.PHASH_INDEX_PREFIX)
    with tempfile.TemporaryDirectory(prefix="quilt-decode-") as tmp:
        local = Path(tmp) / Path(message.object_key).name
        ctx.store.get_file(message.object_key, local)
        frames = decode_frames(local)
        chunks, dropped = [], 0
        for chunk in frames.chunks:
            cid = chunk_id(vid, chunk.t_start, chunk.t_end)
            if index.find(chunk.phash, video_id=vid) is not None:
                dropped += 1
                continue
            key = keys.frame_key(vid, cid)
            ctx.store.put_bytes(key, chunk.jpeg, "image/jpeg")
            index.add(chunk.phash, vid, cid, key)
            intervals = [pb.Interval(t_start=s, t_end=e) for s, e in (chunk.intervals or [])]
            chunks.append(pb.FrameChunk(chunk_id=cid, t_start=chunk.t_start, t_end=chunk.t_end, image_key=key,
                                        sharpness=chunk.sharpness, phash=chunk.phash, intervals=intervals))
        windows = []
        for number, window in enumerate(iter_audio(local, AUDIO_RATE, AUDIO_WINDOW_S)):
            key = keys.audio_window_key(vid, number)
            ctx.store.put_bytes(key, window.samples.astype("<f4").tobytes())
            windows.append(pb.AudioWindow(t_start=window.t_start, key=key, samples=int(window.samples.size)))
    out = pb.DecodedMedia(video_id=vid, source=message.source, duration_s=frames.duration_s,
                          sample_rate=AUDIO_RATE, chunks=chunks, decoder=DECODER_NAME, audio_windows=windows,
                          duplicates_dropped=dropped)
    return Result(outputs=[Output(topics.DECODED, vid, out)],
                  detail={"chunks": len(chunks), "duplicates_dropped": dropped,
                          "duration_s": round(frames.duration_s, 2), "audio_windows": len(windows),
                          "frames_decoded": frames.frames_decoded})


SPEC = ServiceSpec(name="decoder", inputs={topics.FETCHED: pb.FetchedVideo}, handle=handle)

if __name__ == "__main__":
    main(SPEC)
