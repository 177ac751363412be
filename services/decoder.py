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

from quilt.adapters.stage_params import media_limits, ocr_params
from quilt.core import keys, topics
from quilt.stages.decode import AUDIO_RATE, DECODER_NAME, DecodedLecture, PhashIndex, decode_lecture
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def chunk_messages(decoded: DecodedLecture) -> list[pb.FrameChunk]:
    """The key frames as wire messages, in order; a repeat carries the earlier video's chunk id and image key."""
    out = []
    for frame in decoded.key_frames:
        chunk = frame.chunk
        intervals = [pb.Interval(t_start=s, t_end=e) for s, e in (chunk.intervals or [])]
        out.append(pb.FrameChunk(chunk_id=frame.chunk_id, t_start=chunk.t_start, t_end=chunk.t_end,
                                 sharpness=chunk.sharpness, phash=chunk.phash, intervals=intervals,
                                 image_key=frame.image_key, duplicate_of=frame.duplicate_of,
                                 screen_text=frame.screen_text))
    return out


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.FetchedVideo)
    vid = message.video_id
    index = PhashIndex(ctx.store, keys.PHASH_INDEX_PREFIX)
    with tempfile.TemporaryDirectory(prefix="quilt-decode-") as tmp:
        local = Path(tmp) / Path(message.object_key).name
        ctx.store.get_file(message.object_key, local)
        decoded = decode_lecture(local, vid, message.source or message.object_key, index,
                                 put_image=lambda key, jpeg: ctx.store.put_bytes(key, jpeg, "image/jpeg"),
                                 limits=media_limits(ctx.settings), ocr=ocr_params(ctx.settings))
        chunks, dropped = chunk_messages(decoded), decoded.repeats
        windows = []
        for number, window in enumerate(decoded.audio_windows()):
            key = keys.audio_window_key(vid, number)
            ctx.store.put_bytes(key, window.samples.astype("<f4").tobytes())
            windows.append(pb.AudioWindow(t_start=window.t_start, key=key, samples=int(window.samples.size)))
    frames = decoded.frames
    out = pb.DecodedMedia(video_id=vid, source=message.source, duration_s=frames.duration_s,
                          sample_rate=AUDIO_RATE, chunks=chunks, decoder=DECODER_NAME, audio_windows=windows,
                          duplicates_dropped=dropped)
    # "chunks" counts new images, as before; the flagged repeats are "duplicates_dropped" (no image kept).
    return Result(outputs=[Output(topics.DECODED, vid, out)],
                  detail={"chunks": len(chunks) - dropped, "duplicates_dropped": dropped,
                          "duration_s": round(frames.duration_s, 2), "audio_windows": len(windows),
                          "frames_decoded": frames.frames_decoded,
                          "screen_text_frames": sum(bool(k.screen_text) for k in decoded.key_frames),
                          "ocr_failures": decoded.ocr_failures})


SPEC = ServiceSpec(name="decoder", inputs={topics.FETCHED: pb.FetchedVideo}, handle=handle)

if __name__ == "__main__":
    main(SPEC)
