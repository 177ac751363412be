"""Bad and oversized media: each gets one clear StageError (or a defined empty outcome), on real files.

Every video here is written by PyAV at test time and kept tiny: the 4K/60 fps clip is six frames of
a smooth gradient (~30 KB), and a "long" file is a few seconds checked against a limit of fewer.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from quilt.core.types import StageError
from quilt.pipeline import Processor
from quilt.stages.common.media_limits import MediaLimits, check_media, sniff_non_video
from quilt.stages.decode.keyframes import decode_frames, decode_video, iter_audio
from quilt.testing.lecture import SlideSpec, make_audio_only, make_corrupt, make_lecture


def make_clip(path: Path, size: tuple[int, int], fps: int, seconds: float, container_format: str | None = None,
              ) -> Path:
    """H.264 frames of a gradient that shifts a little each frame; libx264 ultrafast at a low quality."""
    width, height = size
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "40"}
        rows, cols = np.mgrid[0:height, 0:width]
        for i in range(max(1, int(round(seconds * fps)))):
            image = np.stack([(cols * 255 // width + i) % 256, rows * 255 // height,
                              np.full_like(cols, 128)], axis=-1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _over(path: Path, limits: MediaLimits, call: str = "decode") -> StageError:
    with pytest.raises(StageError) as info:
        if call == "check":
            check_media(path, limits)
        else:
            decode_frames(path, limits=limits)
    assert info.value.reason == "over_limit", str(info.value)
    assert path.name in str(info.value)
    return info.value


@pytest.fixture(scope="module")
def uhd60(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("uhd") / "uhd60.mp4", (3840, 2160), 60, 0.1)


def test_4k60_passes_the_default_limits(uhd60: Path) -> None:
    with av.open(str(uhd60)) as container:  # really 4K at 60 fps
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height, stream.average_rate) == (3840, 2160, 60)
    check_media(uhd60)
    frames = decode_frames(uhd60)
    assert frames.frames_decoded == 6 and not frames.has_audio


def test_4k60_is_refused_by_a_stricter_config(uhd60: Path) -> None:
    err = _over(uhd60, MediaLimits(max_pixels=1920 * 1080))
    assert "3840x2160" in str(err) and "setting max_pixels = 2073600" in str(err)
    err = _over(uhd60, MediaLimits(max_fps=30), call="check")
    assert "60.00 fps" in str(err) and "setting max_fps = 30" in str(err)
    decode_frames(uhd60, limits=MediaLimits(max_pixels=0, max_fps=0))  # 0 = no limit


def test_a_long_file_is_refused_before_decoding(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "three_seconds.mp4", (64, 48), 10, 3.0)
    err = _over(path, MediaLimits(max_duration_s=2.0))
    assert "duration 3.0s exceeds the limit 2.0s (setting max_duration_s = 2)" in str(err)
    with pytest.raises(StageError) as info:
        decode_video(path, limits=MediaLimits(max_duration_s=2.0))
    assert info.value.reason == "over_limit"
    assert decode_frames(path, limits=MediaLimits(max_duration_s=10.0)).frames_decoded == 30


def test_hours_are_spelled_out() -> None:
    from quilt.stages.common.media_limits import duration_over

    err = duration_over("lecture.mp4", 5 * 3600, MediaLimits())
    assert err is not None and str(err) == (
        "lecture.mp4: duration 5h00m exceeds the limit 4h00m (setting max_duration_s = 14400)")


def test_a_header_that_understates_the_length_is_caught_while_decoding(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "honest.mp4", (64, 48), 10, 6.0)
    data = bytearray(path.read_bytes())
    for box, skip in ((b"mvhd", 16), (b"mdhd", 16), (b"tkhd", 20)):  # version 0 boxes: duration after `skip`
        at = data.find(box) + 4 + skip
        data[at:at + 4] = struct.pack(">I", 1)  # one tick
    lying = tmp_path / "lying.mp4"
    lying.write_bytes(bytes(data))
    with av.open(str(lying)) as container:
        assert float(container.duration or 0) / av.time_base < 0.01  # the header says ~0 s
    limits = MediaLimits(max_duration_s=3.0)
    check_media(lying, limits)  # the header alone passes...
    err = _over(lying, limits)  # ...the frames do not
    assert "setting max_duration_s" in str(err)


def test_a_stream_without_any_length_is_bounded_too(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "raw.h264", (64, 48), 10, 6.0, container_format="h264")
    with av.open(str(path)) as container:
        assert container.duration is None
    err = _over(path, MediaLimits(max_duration_s=1.0))
    assert "setting max_duration_s" in str(err)


def test_size_limit_and_empty_file(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "small.mp4", (64, 48), 10, 1.0)
    err = _over(path, MediaLimits(max_bytes=1000))
    assert "setting max_bytes = 1000" in str(err)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(StageError) as info:
        decode_frames(empty)
    assert info.value.reason == "empty_file" and "empty.mp4" in str(info.value)


@pytest.mark.parametrize(("body", "kind"), [
    (b"<!DOCTYPE html>\n<html><body>Video removed</body></html>", "an HTML page"),
    (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', "an XML/markup document"),
    (b'{"error": "not found"}', "a JSON document"),
    ("Lecture notes: épithélium, granulome.\n".encode(), "a text file"),
])
def test_text_is_not_a_video_for_the_decoder_either(tmp_path: Path, body: bytes, kind: str) -> None:
    assert sniff_non_video(body) == kind
    path = tmp_path / "download.mp4"
    path.write_bytes(body)
    with pytest.raises(StageError) as info:
        decode_frames(path)
    assert info.value.reason == "not_a_video" and kind in str(info.value)


def test_media_and_binary_garbage_are_not_taken_for_text(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", (64, 48), 10, 0.5)
    audio = tmp_path / "talk.m4a"
    make_audio_only(audio, "Granulomas.", seconds=1.0)
    for path in (clip, audio, make_clip(tmp_path / "clip.mp4", (64, 48), 10, 0.5)):
        assert sniff_non_video(path.read_bytes()) is None
    garbage = tmp_path / "garbage.mp4"
    make_corrupt(garbage, "garbage")
    assert sniff_non_video(garbage.read_bytes()) is None
    with pytest.raises(StageError) as info:
        decode_frames(garbage)
    assert info.value.reason == "corrupt_input"  # unknown binary stays "corrupt", not "not a video"


@pytest.mark.parametrize("kind", ["truncated", "truncated_faststart", "garbage"])
def test_broken_files_stay_corrupt_input(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.mp4"
    make_corrupt(path, kind)
    with pytest.raises(StageError) as info:
        decode_frames(path)
    assert info.value.reason == "corrupt_input"


def make_audio_with_cover(path: Path, seconds: float = 3.0, cover: tuple[int, int] = (4000, 3000)) -> Path:
    """AAC in an .m4a carrying a JPEG album cover (an attached picture), as podcasts and exported talks do."""
    width, height = cover
    jpeg = io.BytesIO()
    with av.open(jpeg, "w", format="mjpeg") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        picture = np.zeros((height, width, 3), np.uint8)
        picture[..., 0] = 200
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuvj420p")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path), "w", format="mp4") as container:
        audio = container.add_stream("aac", rate=16000, layout="mono")
        art = container.add_stream("mjpeg", rate=1)
        art.width, art.height, art.pix_fmt = width, height, "yuvj420p"
        art.disposition = av.stream.Disposition.attached_pic
        packet = av.Packet(jpeg.getvalue())
        packet.stream, packet.pts, packet.dts, packet.time_base = art, 0, 0, Fraction(1, 1)
        container.mux(packet)
        tone = (0.1 * np.sin(np.arange(int(seconds * 16000)) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            block = np.zeros((1, 1024), np.float32)
            block[0, :tone[start:start + 1024].size] = tone[start:start + 1024]
            samples = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 16000, start
            container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
    return path


def test_audio_with_a_cover_picture_is_audio_only(tmp_path: Path) -> None:
    path = make_audio_with_cover(tmp_path / "talk.m4a")
    with av.open(str(path)) as container:  # a 12-megapixel "video" stream at a made-up 90000 fps
        (art,) = container.streams.video
        assert art.disposition & av.stream.Disposition.attached_pic and art.codec_context.width == 4000
    check_media(path)  # the picture is not held to the video limits
    frames = decode_frames(path)
    assert frames.chunks == [] and frames.has_audio and frames.duration_s == pytest.approx(3.0, abs=0.1)
    assert sum(w.samples.size for w in iter_audio(path)) == pytest.approx(3.0 * 16000, abs=1100)


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> Processor:
    return Processor(out_dir=tmp_path_factory.mktemp("out"))


def test_video_without_speech_finishes_with_no_pairs(tmp_path: Path, processor: Processor) -> None:
    path = tmp_path / "silent.mp4"
    make_lecture(path, [SlideSpec("histology", 5.0, "", seed=4)])  # an audio track of silence
    assert np.abs(np.concatenate([w.samples for w in iter_audio(path)])).max() < 1e-3
    outcome = processor.run(str(path))
    assert outcome.error == "" and outcome.chunks == 1
    assert (outcome.sentences, outcome.pairs) == (0, 0)


def test_audio_only_is_refused_with_a_clear_reason(tmp_path: Path, processor: Processor) -> None:
    path = tmp_path / "talk.m4a"
    make_audio_only(path, "Here the granulomas contain multinucleated giant cells.", seconds=6.0)
    outcome = processor.run(str(path))
    assert outcome.error.startswith("no_video: ") and "talk.m4a has audio but no video stream" in outcome.error
    assert outcome.pairs == 0
