"""Decoder: video object -> stable frame chunks (JPEGs) and 16 kHz audio windows in the bucket.

Audio goes to the bucket window by window as it is decoded. A chunk that near-duplicates
another video's image (a re-uploaded lecture, a stock micrograph, the same presenter photo or
outro slide in every lecture), found through the perceptual-hash index kept in the bucket, is
not stored again: it travels flagged (`duplicate_of`) with the earlier video's image key. The
filter scores that image, the aligner pairs the new words said over it under the earlier
image_id and drops words another video already paired with it (a re-upload adds nothing).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from google.protobuf.message import Message

from quilt import keys, topics
from quilt.ids import chunk_id
from quilt.stages.decode import (
    AUDIO_RATE,
    AUDIO_WINDOW_S,
    DECODER_NAME,
    decode_frames,
    iter_audio,
    require_video,
)
from quilt.stages.phash_index import PhashIndex
from quilt.stages.types import FrameChunk
from quilt.store import ObjectStore
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def chunk_messages(store: ObjectStore, index: PhashIndex, video_id: str,
                   chunks: list[FrameChunk]) -> tuple[list[pb.FrameChunk], int]:
    """The chunks as wire messages, in order, and how many were flagged as another video's image.

    A new image is uploaded and indexed; a repeat is neither (the index keeps the first video's
    entry, and the bucket one JPEG per distinct picture) and points at the earlier JPEG.
    """
    out, repeats = [], 0
    for chunk in chunks:
        cid = chunk_id(video_id, chunk.t_start, chunk.t_end)
        intervals = [pb.Interval(t_start=s, t_end=e) for s, e in (chunk.intervals or [])]
        message = pb.FrameChunk(chunk_id=cid, t_start=chunk.t_start, t_end=chunk.t_end, sharpness=chunk.sharpness,
                                phash=chunk.phash, intervals=intervals)
        earlier = index.find(chunk.phash, video_id=video_id)
        if earlier is not None:
            message.duplicate_of, message.image_key = earlier.chunk_id, earlier.image_key
            repeats += 1
        else:
            message.image_key = keys.frame_key(video_id, cid)
            store.put_bytes(message.image_key, chunk.jpeg, "image/jpeg")
            index.add(chunk.phash, video_id, cid, message.image_key)
        out.append(message)
    return out, repeats


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.FetchedVideo)
    vid = message.video_id
    index = PhashIndex(ctx.store, keys.PHASH_INDEX_PREFIX)
    with tempfile.TemporaryDirectory(prefix="quilt-decode-") as tmp:
        local = Path(tmp) / Path(message.object_key).name
        ctx.store.get_file(message.object_key, local)
        frames = decode_frames(local, limits=ctx.settings.media_limits())
        require_video(frames, message.source or message.object_key)
        chunks, dropped = chunk_messages(ctx.store, index, vid, frames.chunks)
        windows = []
        for number, window in enumerate(iter_audio(local, AUDIO_RATE, AUDIO_WINDOW_S)):
            key = keys.audio_window_key(vid, number)
            ctx.store.put_bytes(key, window.samples.astype("<f4").tobytes())
            windows.append(pb.AudioWindow(t_start=window.t_start, key=key, samples=int(window.samples.size)))
    out = pb.DecodedMedia(video_id=vid, source=message.source, duration_s=frames.duration_s,
                          sample_rate=AUDIO_RATE, chunks=chunks, decoder=DECODER_NAME, audio_windows=windows,
                          duplicates_dropped=dropped)
    # "chunks" counts new images, as before; the flagged repeats are "duplicates_dropped" (no image kept).
    return Result(outputs=[Output(topics.DECODED, vid, out)],
                  detail={"chunks": len(chunks) - dropped, "duplicates_dropped": dropped,
                          "duration_s": round(frames.duration_s, 2), "audio_windows": len(windows),
                          "frames_decoded": frames.frames_decoded})


SPEC = ServiceSpec(name="decoder", inputs={topics.FETCHED: pb.FetchedVideo}, handle=handle)

if __name__ == "__main__":
    main(SPEC)
