"""decode_video on generated lectures with known slide boundaries."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from quilt.core.imaging import decode_jpeg, encode_jpeg, hamming, phash, sharpness
from quilt.core.types import DecodedVideo, StageError
from quilt.stages.decode.keyframes import DecodeParams, decode_frames, decode_video, iter_audio
from quilt.stages.decode.stability import Run as _Run
from quilt.testing.lecture import (
    LectureTruth,
    SlideSpec,
    default_script,
    make_audio_only,
    make_corrupt,
    make_lecture,
    render_slide,
)

TOLERANCE_S = 0.6


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LectureTruth, list[SlideSpec]]:
    path = tmp_path_factory.mktemp("lecture") / "lecture.mp4"
    script = default_script(seed=3)
    return path, make_lecture(path, script), script


@pytest.fixture(scope="module")
def decoded(lecture: tuple[Path, LectureTruth, list[SlideSpec]]) -> DecodedVideo:
    return decode_video(lecture[0])


def test_one_chunk_per_slide_at_true_times(lecture: tuple[Path, LectureTruth, list[SlideSpec]],
                                           decoded: DecodedVideo) -> None:
    _, truth, _ = lecture
    expected = [s for s in truth.slides if s[1] - s[0] >= 3.0]
    assert len(decoded.chunks) == len(expected)
    for chunk, (t_start, t_end, _kind, _text) in zip(decoded.chunks, expected, strict=True):
        assert abs(chunk.t_start - t_start) <= TOLERANCE_S
        assert abs(chunk.t_end - t_end) <= TOLERANCE_S
        assert chunk.image.shape == (240, 320, 3) and chunk.image.dtype == np.uint8
        assert chunk.sharpness > 0 and len(chunk.phash) == 16
    assert decoded.duration_s == pytest.approx(truth.duration_s, abs=0.2)


def test_audio_is_aligned_with_video(lecture: tuple[Path, LectureTruth, list[SlideSpec]],
                                     decoded: DecodedVideo) -> None:
    _, truth, _ = lecture
    rate = decoded.sample_rate
    assert rate == 16000 and decoded.audio.dtype == np.float32
    assert decoded.audio.size == pytest.approx(truth.duration_s * rate, abs=0.1 * rate)
    for t_start, _t_end, _kind, _text in truth.slides:
        # Narration starts 0.3 s into each slide: silence just before, speech soon after.
        before = decoded.audio[int((t_start + 0.02) * rate):int((t_start + 0.22) * rate)]
        after = decoded.audio[int((t_start + 0.4) * rate):int((t_start + 1.4) * rate)]
        assert np.sqrt(np.mean(before**2)) < 0.01
        assert np.sqrt(np.mean(after**2)) > 0.02


def test_median_removes_pointer_and_hashes_separate_slides(
        lecture: tuple[Path, LectureTruth, list[SlideSpec]], decoded: DecodedVideo) -> None:
    _, _, script = lecture
    for chunk, spec in zip(decoded.chunks, script, strict=True):
        original = render_slide(spec, (320, 240))
        # Same slide through the codec (and with a pointer on some frames): hashes nearly agree.
        assert hamming(chunk.phash, phash(original)) <= 6
        assert np.abs(chunk.image.astype(int) - original.astype(int)).mean() < 6
    hashes = [c.phash for c in decoded.chunks]
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            assert hamming(hashes[i], hashes[j]) > 10


def test_pointer_frames_hash_like_their_slide(lecture: tuple[Path, LectureTruth, list[SlideSpec]],
                                              decoded: DecodedVideo) -> None:
    path, truth, script = lecture
    index = next(i for i, s in enumerate(script) if s.pointer)
    t_start, t_end = truth.slides[index][:2]
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if t_start + 0.3 * (t_end - t_start) <= frame.time <= t_start + 0.7 * (t_end - t_start):
                frames.append(frame.to_ndarray(format="rgb24"))
    assert len(frames) > 5
    assert hamming(phash(frames[0]), phash(frames[-1])) <= 6
    assert hamming(phash(frames[0]), decoded.chunks[index].phash) <= 6


def test_pointer_does_not_split_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "pointer.mp4"
    make_lecture(path, [SlideSpec("text", 6.0, "", title="Outline", lines=("one", "two"), pointer=True),
                        SlideSpec("histology", 6.0, "", seed=4, pointer=True)], with_audio=False)
    chunks = decode_video(path).chunks
    assert [(round(c.t_start, 1), round(c.t_end, 1)) for c in chunks] == [(0.0, 6.0), (6.0, 12.0)]


def test_variable_frame_rate_stills(tmp_path: Path) -> None:
    """Screen recorders emit a frame only when the screen changes: a still may be a single frame."""
    path = tmp_path / "vfr.mp4"
    slides = [render_slide(SlideSpec("histology", 1.0, "", seed=s), (320, 240)) for s in (1, 2)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for pts, image in ((0, slides[0]), (60, slides[1]), (119, slides[1])):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = pts
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    chunks = decode_video(path).chunks
    assert [(round(c.t_start, 1), round(c.t_end, 1)) for c in chunks] == [(0.0, 6.0), (6.0, 12.0)]


def test_crossfade_between_slides_is_no_chunk(tmp_path: Path) -> None:
    path = tmp_path / "fade.mp4"
    a, b = (render_slide(SlideSpec(kind, 1.0, "", seed=3), (320, 240)).astype(float)
            for kind in ("ihc", "photo"))
    fps = 25  # a common upload rate; 0.5 s sampling steps fall between its frames
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(10 * fps):  # 4 s of a, 1 s crossfade, 5 s of b
            alpha = min(max((i / fps - 4.0) / 1.0, 0.0), 1.0)
            image = ((1 - alpha) * a + alpha * b).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    chunks = decode_video(path).chunks
    assert len(chunks) == 2
    assert chunks[0].t_start == pytest.approx(0.0) and chunks[0].t_end == pytest.approx(4.0, abs=TOLERANCE_S)
    assert chunks[1].t_start == pytest.approx(5.0, abs=TOLERANCE_S) and chunks[1].t_end == pytest.approx(10.0)


def test_short_slides_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    make_lecture(path, [SlideSpec("histology", 4.0, "", seed=1), SlideSpec("ihc", 2.0, "", seed=2),
                        SlideSpec("photo", 4.0, "")], with_audio=False)
    chunks = decode_video(path, DecodeParams(min_duration_s=3.0)).chunks
    assert [(round(c.t_start, 1), round(c.t_end, 1)) for c in chunks] == [(0.0, 4.0), (6.0, 10.0)]


def test_video_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    make_lecture(path, [SlideSpec("ihc", 4.0, "", seed=5)], with_audio=False)
    result = decode_video(path)
    assert result.audio.size == 0 and result.audio.dtype == np.float32
    assert len(result.chunks) == 1
    assert result.duration_s == pytest.approx(4.0, abs=0.2)


def test_audio_only_file(tmp_path: Path) -> None:
    path = tmp_path / "talk.m4a"
    seconds = make_audio_only(path, "Lymphocytes infiltrate the glandular epithelium.", seconds=4.0)
    result = decode_video(path)
    assert result.chunks == []
    assert result.audio.size == pytest.approx(seconds * 16000, abs=0.05 * 16000)
    assert result.duration_s == pytest.approx(seconds, abs=0.2)
    assert np.abs(result.audio).max() > 0.05


def test_rotated_and_odd_sized_videos(tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.mp4"
    make_lecture(rotated, [SlideSpec("photo", 4.0, "")], with_audio=False, rotation=90)
    (chunk,) = decode_video(rotated).chunks
    assert chunk.image.shape == (320, 240, 3)  # displayed upright: portrait
    odd = tmp_path / "odd.mp4"
    make_lecture(odd, [SlideSpec("histology", 4.0, "")], size=(161, 121), with_audio=False)
    (chunk,) = decode_video(odd).chunks
    assert chunk.image.shape == (121, 161, 3)


@pytest.mark.parametrize("kind", ["truncated", "truncated_faststart", "garbage"])
def test_corrupt_inputs(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.mp4"
    make_corrupt(path, kind)
    with pytest.raises(StageError) as info:
        decode_video(path)
    assert info.value.reason == "corrupt_input"
    assert path.name in str(info.value)


def test_missing_file_and_no_streams(tmp_path: Path) -> None:
    with pytest.raises(StageError) as info:
        decode_video(tmp_path / "absent.mp4")
    assert info.value.reason == "corrupt_input"
    subtitles = tmp_path / "captions.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello\n\n")
    with pytest.raises(StageError) as info:
        decode_video(subtitles)
    assert info.value.reason == "no_streams"


def test_run_keeps_bounded_evenly_spaced_frames() -> None:
    run = _Run(0.0, max_frames=9)
    for i in range(1000):
        frame = np.full((2, 2, 3), i, dtype=np.int32)  # the value records the frame index
        run.add(i * 0.5, frame if run.wants() else None)
        assert len(run.frames) <= 9
    kept = [int(f[0, 0, 0]) for f in run.frames]
    assert len(kept) >= 5 and len(set(np.diff(kept).tolist())) == 1  # a constant stride


def test_jpeg_round_trip_and_sharpness() -> None:
    image = render_slide(SlideSpec("histology", 1.0, "", seed=9), (320, 240))
    back = decode_jpeg(encode_jpeg(image, quality=90))
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - image.astype(int)).mean() < 6
    assert hamming(phash(back), phash(image)) <= 4
    blurred = gaussian_filter(image, sigma=(2, 2, 0))
    assert sharpness(blurred) < sharpness(image)
    assert hamming("ffffffffffffffff", "0000000000000000") == 64


def test_decode_frames_counts_and_matches_decode_video(lecture: tuple[Path, LectureTruth, list[SlideSpec]],
                                                       decoded: DecodedVideo) -> None:
    path, truth, _ = lecture
    frames = decode_frames(path)
    assert frames.has_audio
    assert [(c.t_start, c.t_end) for c in frames.chunks] == [(c.t_start, c.t_end) for c in decoded.chunks]
    total = int(round(truth.duration_s * 10))
    assert 0 < frames.frames_decoded <= total
    assert frames.frames_sampled == pytest.approx(truth.duration_s * 2, abs=2)


def test_iter_audio_windows(lecture: tuple[Path, LectureTruth, list[SlideSpec]], decoded: DecodedVideo) -> None:
    path, _, _ = lecture
    windows = list(iter_audio(path, 16000, window_s=7.3))  # 7.3 * 16000 is whole; starts must not drift
    assert [w.t_start for w in windows] == [pytest.approx(7.3 * k) for k in range(len(windows))]
    assert all(w.samples.dtype == np.float32 and w.samples.ndim == 1 for w in windows)
    assert all(w.samples.size == round(7.3 * 16000) for w in windows[:-1])
    assert 0 < windows[-1].samples.size <= round(7.3 * 16000)
    joined = np.concatenate([w.samples for w in windows])
    np.testing.assert_array_equal(joined, decoded.audio)  # decode_video is the concatenation


def test_iter_audio_odd_window_is_sample_accurate(tmp_path: Path) -> None:
    path = tmp_path / "talk.m4a"
    make_audio_only(path, "Eosin.", seconds=2.0)
    windows = list(iter_audio(path, 16000, window_s=1 / 3))  # 5333.33 samples: boundaries alternate
    starts = np.cumsum([0] + [w.samples.size for w in windows[:-1]])
    for k, (window, start) in enumerate(zip(windows, starts, strict=True)):
        assert window.t_start == pytest.approx(k / 3)
        assert start == round(k / 3 * 16000)


def test_iter_audio_pads_late_first_frame(tmp_path: Path) -> None:
    """Audio starting 1.5 s into the file is preceded by silence so sample index == time * rate."""
    path = tmp_path / "late.mp4"
    make_lecture(path, [SlideSpec("histology", 4.0, "", seed=1)], with_audio=False)
    late = tmp_path / "late-audio.m4a"
    make_audio_only(late, "Nuclei.", seconds=2.0)
    out = tmp_path / "muxed.mkv"
    with av.open(str(late)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is None or packet.pts is None:
                continue
            packet.pts = packet.pts + int(1.5 / packet.time_base)
            packet.dts = packet.dts + int(1.5 / packet.time_base)
            packet.stream = stream
            dst.mux(packet)
    audio = np.concatenate([w.samples for w in iter_audio(out, 16000, window_s=1.0)])
    assert np.abs(audio[: int(1.4 * 16000)]).max() == 0.0
    assert audio.size == pytest.approx(3.5 * 16000, abs=0.1 * 16000)
