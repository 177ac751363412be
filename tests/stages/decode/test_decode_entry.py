"""decode_lecture, the decode stage's entry point: repeat handling through the perceptual-hash index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quilt.adapters.store import LocalStore
from quilt.core import keys
from quilt.core.imaging import phash
from quilt.core.types import FrameChunk, VideoFrames
from quilt.stages import decode as decode_stage
from quilt.stages.decode import OcrParams, PhashIndex, decode_lecture
from quilt.testing.impure import clean_tissue
from quilt.testing.slides import photo_slide


@pytest.fixture
def two_chunks(monkeypatch: pytest.MonkeyPatch) -> list[FrameChunk]:
    tissue, photo = clean_tissue(4)[0], photo_slide()
    chunks = [FrameChunk(0.0, 6.0, tissue, phash=phash(tissue)), FrameChunk(6.0, 11.0, photo, phash=phash(photo))]
    # Decoding itself is tested in test_decode.py; here only what the entry point does with the chunks counts.
    monkeypatch.setattr(decode_stage, "decode_frames",
                        lambda path, params=None, limits=None: VideoFrames(11.0, chunks, has_audio=True))
    return chunks


def test_a_first_video_stores_and_indexes_every_key_frame(tmp_path: Path, two_chunks: list[FrameChunk]) -> None:
    store = LocalStore(tmp_path)
    index = PhashIndex(store, keys.PHASH_INDEX_PREFIX)
    stored: dict[str, bytes] = {}
    decoded = decode_lecture(tmp_path / "v.mp4", "v-1", "v.mp4", index, put_image=stored.__setitem__)
    assert decoded.repeats == 0 and all(not k.duplicate_of for k in decoded.key_frames)
    assert [k.image_key for k in decoded.key_frames] == [keys.frame_key("v-1", k.chunk_id) for k in decoded.key_frames]
    assert stored == {k.image_key: k.chunk.jpeg for k in decoded.key_frames}
    # Replaying the same video finds only its own entries, which do not count as repeats.
    again = decode_lecture(tmp_path / "v.mp4", "v-1", "v.mp4", index, put_image=stored.__setitem__)
    assert again.repeats == 0
    assert [(k.chunk_id, k.image_key) for k in again.key_frames] == [(k.chunk_id, k.image_key)
                                                                     for k in decoded.key_frames]


def test_another_videos_picture_is_a_repeat_that_is_not_stored(tmp_path: Path, two_chunks: list[FrameChunk]) -> None:
    index = PhashIndex(LocalStore(tmp_path), keys.PHASH_INDEX_PREFIX)
    decode_lecture(tmp_path / "a.mp4", "v-1", "a.mp4", index)
    stored: dict[str, bytes] = {}
    decoded = decode_lecture(tmp_path / "b.mp4", "v-2", "b.mp4", index, put_image=stored.__setitem__)
    assert decoded.repeats == 2 and not stored
    first = decode_lecture(tmp_path / "a.mp4", "v-1", "a.mp4", index).key_frames
    for frame, earlier in zip(decoded.key_frames, first, strict=True):
        assert frame.duplicate_of == earlier.chunk_id and frame.image_key == earlier.image_key
        assert frame.image_id == earlier.chunk_id


def test_an_audio_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quilt.core.types import StageError

    monkeypatch.setattr(decode_stage, "decode_frames",
                        lambda path, params=None, limits=None: VideoFrames(5.0, [], has_audio=True, has_video=False))
    with pytest.raises(StageError) as err:
        decode_lecture(tmp_path / "talk.m4a", "v-1", "talk.m4a", PhashIndex(LocalStore(tmp_path), "phash"))
    assert err.value.reason == "no_video" and "talk.m4a" in str(err.value)


@pytest.fixture
def titled_slide(monkeypatch: pytest.MonkeyPatch) -> list[FrameChunk]:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 360), "white")
    ImageDraw.Draw(image).text((30, 30), "Caseating granuloma", fill="black", font=ImageFont.load_default(size=30))
    slide = np.asarray(image)
    tissue = clean_tissue(2)[0]
    chunks = [FrameChunk(0.0, 5.0, slide, phash=phash(slide)), FrameChunk(5.0, 9.0, tissue, phash=phash(tissue))]
    monkeypatch.setattr(decode_stage, "decode_frames",
                        lambda path, params=None, limits=None: VideoFrames(9.0, chunks, has_audio=True))
    return chunks


def test_each_key_frame_carries_the_text_on_it(tmp_path: Path, titled_slide: list[FrameChunk]) -> None:
    index = PhashIndex(LocalStore(tmp_path), keys.PHASH_INDEX_PREFIX)
    decoded = decode_lecture(tmp_path / "v.mp4", "v-1", "v.mp4", index)
    slide, tissue = decoded.key_frames
    assert "Caseating granuloma" in slide.screen_text and slide.screen_status == "ok"
    assert tissue.screen_status in ("ok", "empty") and "granuloma" not in tissue.screen_text.lower()
    assert decoded.ocr_failures == 0


@pytest.mark.parametrize("ocr", [OcrParams(command="/nonexistent/tesseract"), OcrParams(enabled=False)])
def test_a_video_goes_on_when_ocr_is_missing_or_off(tmp_path: Path, titled_slide: list[FrameChunk],
                                                    ocr: OcrParams) -> None:
    index = PhashIndex(LocalStore(tmp_path), keys.PHASH_INDEX_PREFIX)
    decoded = decode_lecture(tmp_path / "v.mp4", "v-1", "v.mp4", index, ocr=ocr)
    assert len(decoded.key_frames) == 2 and all(k.screen_text == "" for k in decoded.key_frames)
    assert decoded.ocr_failures == (2 if ocr.enabled else 0)
