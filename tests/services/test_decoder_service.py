"""The decoder adapter: new images are stored and indexed; another video's image travels flagged and imageless."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import structlog

from quilt.adapters.config import Settings
from quilt.adapters.store import LocalStore
from quilt.core import keys
from quilt.core.imaging import phash
from quilt.core.types import AudioWindow, FrameChunk, VideoFrames
from quilt.stages import decode as decode_stage
from quilt.stages.decode import PhashIndex
from quilt.testing.impure import clean_tissue
from quilt.testing.slides import photo_slide
from quiltpb.v1 import messages_pb2 as pb
from services import decoder
from services.contract import Context

EARLIER = "v-0-c00016300-00020700"  # the chunk id the photo got in an earlier video


def test_a_repeat_of_another_videos_image_is_sent_flagged_with_the_earlier_image(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)
    index = PhashIndex(store, keys.PHASH_INDEX_PREFIX)
    tissue, photo = clean_tissue(4)[0], photo_slide()
    index.add(phash(photo), "v-0", EARLIER, "frames/v-0/photo.jpg")
    indexed_before = len(list(store.list(keys.PHASH_INDEX_PREFIX)))
    chunks = [FrameChunk(0.0, 6.0, tissue, phash=phash(tissue)),
              FrameChunk(6.0, 11.0, photo, phash=phash(photo), intervals=[(6.0, 11.0), (20.0, 25.0)])]
    # Decoding itself is tested in test_decode.py; here only what the adapter does with the chunks counts.
    monkeypatch.setattr(decode_stage, "decode_frames",
                        lambda path, params=None, limits=None: VideoFrames(25.0, chunks, has_audio=True))
    monkeypatch.setattr(decode_stage, "iter_audio", lambda *args: iter([AudioWindow(0.0, np.zeros(160, np.float32))]))
    store.put_bytes("videos/v-1/source.mp4", b"stands in for the video")
    ctx = Context(settings=Settings(), store=store, log=structlog.get_logger())

    result = decoder.handle(ctx, "videos.fetched", pb.FetchedVideo(video_id="v-1", object_key="videos/v-1/source.mp4"))

    [out] = result.outputs
    fresh, repeat = out.message.chunks
    assert not fresh.duplicate_of and fresh.image_key == keys.frame_key("v-1", fresh.chunk_id)
    assert store.exists(fresh.image_key)
    # The filter scores the earlier video's JPEG; nothing new is stored for it.
    assert repeat.duplicate_of == EARLIER and repeat.image_key == "frames/v-0/photo.jpg"
    assert (repeat.t_start, repeat.t_end, repeat.phash) == (6.0, 11.0, phash(photo))
    assert [(i.t_start, i.t_end) for i in repeat.intervals] == [(6.0, 11.0), (20.0, 25.0)]  # both showings compete
    assert not store.exists(keys.frame_key("v-1", repeat.chunk_id))  # its JPEG was never uploaded
    assert out.message.duplicates_dropped == 1
    assert (result.detail["chunks"], result.detail["duplicates_dropped"]) == (1, 1)
    # Only the new image joined the index; the repeat stays the earlier video's entry alone.
    assert len(list(store.list(keys.PHASH_INDEX_PREFIX))) == indexed_before * 2
    match = index.find(phash(tissue), video_id="v-2")
    assert match is not None and match.chunk_id == fresh.chunk_id



def test_the_text_on_each_key_frame_travels_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 360), "#203040")
    ImageDraw.Draw(image).text((30, 30), "Hepatocellular carcinoma", fill="white",
                               font=ImageFont.load_default(size=30))
    slide = np.asarray(image)
    chunks = [FrameChunk(0.0, 6.0, slide, phash=phash(slide))]
    monkeypatch.setattr(decode_stage, "decode_frames",
                        lambda path, params=None, limits=None: VideoFrames(6.0, chunks, has_audio=True))
    monkeypatch.setattr(decode_stage, "iter_audio", lambda *args: iter([AudioWindow(0.0, np.zeros(160, np.float32))]))
    store = LocalStore(tmp_path)
    store.put_bytes("videos/v-1/source.mp4", b"stands in for the video")
    ctx = Context(settings=Settings(), store=store, log=structlog.get_logger())
    result = decoder.handle(ctx, "videos.fetched", pb.FetchedVideo(video_id="v-1", object_key="videos/v-1/source.mp4"))
    [chunk] = result.outputs[0].message.chunks
    assert "Hepatocellular carcinoma" in chunk.screen_text
    assert (result.detail["screen_text_frames"], result.detail["ocr_failures"]) == (1, 0)
    # With OCR off (QUILT_OCR_ENABLED=false) the video is decoded the same, without the text.
    ctx = Context(settings=Settings(ocr_enabled=False), store=store, log=structlog.get_logger())
    result = decoder.handle(ctx, "videos.fetched", pb.FetchedVideo(video_id="v-1", object_key="videos/v-1/source.mp4"))
    assert [c.screen_text for c in result.outputs[0].message.chunks] == [""]
