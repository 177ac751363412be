"""Stable-chunk detection on the hard parts of real lectures: pans, zooms, fades, presenter, repeats."""

from __future__ import annotations

from pathlib import Path

import pytest

from quilt.core.types import FrameChunk
from quilt.evaluation.keyframes import evaluate
from quilt.stages.decode.keyframes import decode_frames
from quilt.testing.lecture import SlideSpec, make_lecture

S = SlideSpec


def _chunks(path: Path, script: list[SlideSpec]) -> list[FrameChunk]:
    make_lecture(path, script, with_audio=False)
    return decode_frames(path).chunks


@pytest.mark.parametrize("kind,motion,rate", [("histology", "pan", 8.0), ("ihc", "pan", 30.0),
                                              ("histology", "pan", 2.0), ("histology", "zoom", 2.0),
                                              ("ihc", "zoom", 5.0), ("text", "pan", 4.0)])
def test_pan_and_zoom_give_no_chunk(tmp_path: Path, kind: str, motion: str, rate: float) -> None:
    assert _chunks(tmp_path / "move.mp4", [S(kind, 10.0, "", seed=3, motion=motion, motion_rate=rate)]) == []


def test_presenter_camera_gives_no_chunk(tmp_path: Path) -> None:
    assert _chunks(tmp_path / "cam.mp4", [S("presenter", 10.0, "", seed=1)]) == []


def test_crossfade_gives_no_extra_chunk(tmp_path: Path) -> None:
    chunks = _chunks(tmp_path / "fade.mp4", [S("histology", 5.0, "", seed=1),
                                              S("ihc", 7.0, "", seed=2, fade_in_s=2.0)])
    assert len(chunks) == 2
    assert chunks[0].t_end == pytest.approx(5.0, abs=0.6)
    assert chunks[1].t_start == pytest.approx(7.0, abs=0.6)


@pytest.mark.parametrize("kind", ["histology", "text", "ihc"])
def test_pointer_and_annotation_do_not_split(tmp_path: Path, kind: str) -> None:
    spec = S(kind, 8.0, "", seed=5, title="Outline", lines=("one", "two"), pointer=True, annotation=True)
    chunks = _chunks(tmp_path / "marks.mp4", [spec])
    assert [(c.t_start, c.t_end) for c in chunks] == [(0.0, 8.0)]


def test_different_text_slides_are_split(tmp_path: Path) -> None:
    chunks = _chunks(tmp_path / "text.mp4", [S("text", 5.0, "", title="Renal biopsy", lines=("Point 1",)),
                                              S("text", 5.0, "", title="Summary", lines=("Point 2", "Point 3"))])
    assert [(c.t_start, c.t_end) for c in chunks] == [(0.0, 5.0), (5.0, 10.0)]


def test_repeated_slide_is_one_chunk_with_two_intervals(tmp_path: Path) -> None:
    chunks = _chunks(tmp_path / "aba.mp4", [S("histology", 5.0, "", seed=1), S("ihc", 5.0, "", seed=2),
                                             S("histology", 4.0, "", seed=1, pointer=True)])
    assert len(chunks) == 2
    first = chunks[0]
    assert first.intervals == [(0.0, 5.0), (10.0, 14.0)]
    assert (first.t_start, first.t_end) == (0.0, 5.0)
    assert chunks[1].spans() == [(5.0, 10.0)]


def test_mixed_lecture_scores(tmp_path: Path) -> None:
    script = [S("histology", 5, "", seed=1, pointer=True), S("histology", 8, "", seed=2, motion="pan", motion_rate=8),
              S("ihc", 5, "", seed=3, annotation=True, fade_in_s=1.5),
              S("histology", 8, "", seed=4, motion="zoom", motion_rate=4),
              S("text", 5, "", title="Outline", lines=("a", "b"), pointer=True, annotation=True),
              S("presenter", 8, "", seed=5), S("histology", 5, "", seed=1, fade_in_s=1.0),
              S("ihc", 8, "", seed=6, motion="pan", motion_rate=30),
              S("text", 4, "", title="Outline", lines=("a", "b"), pointer=True, annotation=True)]
    path = tmp_path / "mixed.mp4"
    truth = make_lecture(path, script, with_audio=False)
    frames = decode_frames(path)
    scores = evaluate(frames.chunks, truth.eval_segments())
    assert scores.one_keyframe == scores.still_segments == 5
    assert scores.duplicates == 0 and scores.in_motion == 0 and scores.unmatched == 0
    assert len(frames.chunks) == 3  # both repeats merged
