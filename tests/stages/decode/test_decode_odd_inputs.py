"""decode_frames / iter_audio on odd but valid inputs, and clear StageErrors for broken ones."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from quilt.core.types import StageError
from quilt.stages.decode.keyframes import decode_frames, iter_audio
from quilt.testing.lecture import SlideSpec, make_audio_only, make_corrupt, make_lecture
from quilt.testing.odd_inputs import make_interlaced, make_vfr

S = SlideSpec


def _spans(path: Path) -> list[tuple[float, float]]:
    return [(round(c.t_start, 1), round(c.t_end, 1)) for c in decode_frames(path).chunks]


def test_variable_frame_rate(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mp4"
    truth = make_vfr(path, [S("histology", 4.0, "", seed=1), S("ihc", 5.0, "", seed=2)], seed=3)
    spans = _spans(path)
    assert len(spans) == 2
    for (start, end), (t_start, t_end, _kind, _text) in zip(spans, truth.slides, strict=True):
        assert start == pytest.approx(t_start, abs=0.3) and end == pytest.approx(t_end, abs=0.3)


def test_interlaced(tmp_path: Path) -> None:
    path = tmp_path / "interlaced.mp4"
    make_interlaced(path, [S("histology", 4.0, "", seed=1), S("ihc", 4.0, "", seed=2)])
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).interlaced_frame  # really interlaced
    assert _spans(path) == [(0.0, 4.0), (4.0, 8.0)]


def test_rotation_metadata(tmp_path: Path) -> None:
    path = tmp_path / "rotated.mp4"
    make_lecture(path, [S("photo", 4.0, "")], with_audio=False, rotation=90)
    (chunk,) = decode_frames(path).chunks
    assert chunk.image.shape == (320, 240, 3)  # displayed upright: portrait


def test_odd_size(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    make_lecture(path, [S("histology", 4.0, "", seed=2)], size=(161, 121), with_audio=False)
    (chunk,) = decode_frames(path).chunks
    assert chunk.image.shape == (121, 161, 3)


def test_no_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    make_lecture(path, [S("ihc", 4.0, "", seed=5)], with_audio=False)
    frames = decode_frames(path)
    assert not frames.has_audio and len(frames.chunks) == 1
    assert list(iter_audio(path)) == []


def test_audio_only(tmp_path: Path) -> None:
    path = tmp_path / "talk.m4a"
    seconds = make_audio_only(path, "Granulomas with giant cells.", seconds=5.0)
    frames = decode_frames(path)
    assert frames.chunks == [] and frames.has_audio and frames.frames_decoded == 0
    assert frames.duration_s == pytest.approx(seconds, abs=0.2)
    windows = list(iter_audio(path, 16000, window_s=2.0))
    assert [w.t_start for w in windows] == [0.0, 2.0, 4.0]
    assert sum(w.samples.size for w in windows) == pytest.approx(seconds * 16000, abs=1100)  # AAC pads the last frame


@pytest.mark.parametrize("kind,needle", [("truncated", "moov"), ("truncated_faststart", "truncated"),
                                         ("garbage", "cannot decode")])
def test_broken_inputs(tmp_path: Path, kind: str, needle: str) -> None:
    path = tmp_path / f"{kind}.mp4"
    make_corrupt(path, kind)
    with pytest.raises(StageError) as info:
        decode_frames(path)
    assert info.value.reason == "corrupt_input" and path.name in str(info.value)
    assert needle in str(info.value) or kind == "truncated"


def test_broken_audio_input(tmp_path: Path) -> None:
    path = tmp_path / "garbage.m4a"
    make_corrupt(path, "garbage")
    with pytest.raises(StageError) as info:
        list(iter_audio(path))
    assert info.value.reason == "corrupt_input"


def test_no_streams(tmp_path: Path) -> None:
    path = tmp_path / "captions.srt"
    path.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello\n\n")
    with pytest.raises(StageError) as info:
        decode_frames(path)
    assert info.value.reason == "no_streams"
    assert list(iter_audio(path)) == []
