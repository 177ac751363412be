"""Stable chunks under camera motion: a shaking or slowly drifting view of one field is one chunk,
built from frames in register; a move to another field, a pan or a zoom still ends it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from quilt.core.types import FrameChunk
from quilt.stages.decode import motion as decode_motion
from quilt.stages.decode.keyframes import decode_frames
from quilt.stages.decode.median import median_frames
from quilt.stages.decode.params import DecodeParams
from quilt.stages.decode.register import registered_median
from quilt.testing import motion
from quilt.testing.lecture import SlideSpec, make_lecture

SIZE = (854, 480)  # shake of a few pixels is measured against a real lecture's frame, not a 320 px test frame
FPS = 10


def _grey(image: np.ndarray) -> np.ndarray:
    return image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _registered_ssim(truth: np.ndarray, image: np.ndarray, reach: int = 5) -> float:
    """SSIM of `image` against `truth` at the whole-pixel offset that matches them best."""
    a, b = _grey(truth), _grey(image)
    core = a[reach:-reach, reach:-reach]
    best = -1.0
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            moved = b[reach + dy:b.shape[0] - reach + dy, reach + dx:b.shape[1] - reach + dx]
            best = max(best, float(structural_similarity(core, moved, data_range=255)))
    return best


def _chunks(path: Path, frames: Iterable[np.ndarray]) -> list[FrameChunk]:
    motion.write_video(path, frames, SIZE, FPS)
    return decode_frames(path).chunks


def test_phase_correlation_finds_subpixel_shift() -> None:
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.random((96, 128)).astype(np.float32) * 255, 1.5)
    for true in [(1.3, -2.6), (-0.4, 0.45), (0.0, 0.0)]:
        moved = ndimage.shift(texture, true, order=3, mode="nearest")
        found = decode_motion.estimate_shift(decode_motion.reference(texture), decode_motion.reference(moved))
        assert found == pytest.approx(true, abs=0.1)


def test_registered_median_undoes_whole_pixel_shake() -> None:
    frames = list(motion.shake_frames("histology", 2, (320, 240), 5, amplitude=4.0))
    truth = motion.still_view("histology", 2, (320, 240), amplitude=4.0)
    assert _registered_ssim(truth, registered_median(frames)) > 0.99
    assert _registered_ssim(truth, median_frames(frames)) < 0.9


def test_shaking_view_is_one_sharp_chunk(tmp_path: Path) -> None:
    """A histology field under a hand tremor of +-3 px for 6 s: one chunk, as sharp as the still."""
    frames = list(motion.shake_frames("histology", 4, SIZE, 6 * FPS, amplitude=3.0, fps=FPS))
    chunks = _chunks(tmp_path / "shake.mp4", frames)
    assert [(c.t_start, c.t_end) for c in chunks] == [(0.0, 6.0)]
    truth = motion.still_view("histology", 4, SIZE, amplitude=3.0)
    chunk_ssim = _registered_ssim(truth, chunks[0].image)
    misaligned = _registered_ssim(truth, median_frames(frames[::12]))  # what a plain median of the run gives
    assert chunk_ssim > 0.95
    assert chunk_ssim > misaligned + 0.05


@pytest.mark.parametrize("kind,amplitude", [("ihc", 2.0), ("histology", 3.5)])
def test_other_shakes_are_one_chunk(tmp_path: Path, kind: str, amplitude: float) -> None:
    frames = motion.shake_frames(kind, 6, SIZE, 8 * FPS, amplitude=amplitude, fps=FPS)
    assert [(c.t_start, c.t_end) for c in _chunks(tmp_path / "shake.mp4", list(frames))] == [(0.0, 8.0)]


def test_slow_drift_within_one_field_is_one_chunk(tmp_path: Path) -> None:
    """A live microscope feed: a tremor of +-2 px while the stage creeps 0.5 px/s (3 px in all)."""
    frames = motion.shake_frames("histology", 8, SIZE, 6 * FPS, amplitude=2.0, drift_px_per_s=0.5, fps=FPS)
    assert [(c.t_start, c.t_end) for c in _chunks(tmp_path / "drift.mp4", list(frames))] == [(0.0, 6.0)]


def test_move_to_another_field_ends_the_chunk(tmp_path: Path) -> None:
    """The stage moves on by a sixth of the frame: the shaking views before and after are two chunks."""
    frames = motion.field_move_frames("histology", 3, SIZE, 5 * FPS, 5 * FPS, move_px=SIZE[0] // 6)
    chunks = _chunks(tmp_path / "move.mp4", list(frames))
    assert len(chunks) == 2
    assert (chunks[0].t_start, chunks[0].t_end) == (0.0, 5.0)
    assert chunks[1].t_start == pytest.approx(5.0, abs=0.51) and chunks[1].t_end == 10.0


def test_slow_zoom_with_pan_gives_no_chunk(tmp_path: Path) -> None:
    """Zooming 2 %/s while panning: the picture changes after any shift, so it is motion, not a chunk."""
    frames = motion.zoom_pan_frames("histology", 5, (320, 240), 8 * FPS, FPS, pct_per_s=2.0, pan_px_per_s=3.0)
    motion.write_video(tmp_path / "zoom.mp4", frames, (320, 240), FPS)
    assert decode_frames(tmp_path / "zoom.mp4").chunks == []


def test_still_slide_is_unchanged(tmp_path: Path) -> None:
    """A still camera never takes the motion path: same chunk, same plain median as before."""
    path = tmp_path / "still.mp4"
    make_lecture(path, [SlideSpec("histology", 6.0, "", seed=1, pointer=True)], with_audio=False)
    chunks = decode_frames(path).chunks
    assert [(c.t_start, c.t_end) for c in chunks] == [(0.0, 6.0)]
    truth = motion.large_image("histology", 1, (320, 240))
    assert _registered_ssim(truth, chunks[0].image, reach=1) > 0.9


def test_brief_occlusion_of_a_shaking_view_is_one_showing(tmp_path: Path) -> None:
    """A hand covers most of a shaking field for 1 s: the two pieces are one chunk spanning the break."""
    frames = list(motion.shake_frames("histology", 4, SIZE, 11 * FPS, amplitude=3.0, fps=FPS))
    for i in range(5 * FPS, 6 * FPS):
        frames[i] = frames[i].copy()
        frames[i][:, : SIZE[0] * 2 // 3] = (60, 40, 30)
    chunks = _chunks(tmp_path / "occluded.mp4", frames)
    assert [c.spans() for c in chunks] == [[(0.0, 11.0)]]


def test_same_slide_after_another_keeps_two_showings(tmp_path: Path) -> None:
    """The brief-break join is only for pieces with nothing between them (A, B, A stays two showings)."""
    path = tmp_path / "aba.mp4"
    make_lecture(path, [SlideSpec("histology", 4.0, "", seed=1), SlideSpec("ihc", 3.5, "", seed=2),
                        SlideSpec("histology", 4.0, "", seed=1)], with_audio=False)
    chunks = decode_frames(path).chunks
    assert chunks[0].spans() == [(0.0, 4.0), (7.5, 11.5)]


def test_slow_zoom_is_one_chunk_shown_by_its_sharpest_frame(tmp_path: Path) -> None:
    """Zooming in 0.6 %/s for 6 s (3.6 % in all): one field, one chunk; no median of frames no shift registers."""
    size = (640, 360)
    frames = list(motion.zoom_pan_frames("histology", 7, size, 6 * FPS, FPS, pct_per_s=0.6, pan_px_per_s=0.0))
    motion.write_video(tmp_path / "zoom.mp4", frames, size, FPS)
    chunks = decode_frames(tmp_path / "zoom.mp4").chunks
    assert [(c.t_start, c.t_end) for c in chunks] == [(0.0, 6.0)]
    best_frame = max(_registered_ssim(frame, chunks[0].image, reach=1) for frame in frames[::5])
    assert best_frame > 0.9  # the picture is one of the frames, as sharp as it was shown


def test_slow_zoom_with_small_pan_gives_a_chunk(tmp_path: Path) -> None:
    """Zooming 0.8 %/s while panning 2 px/s (at 640x360): a key frame for the field, not motion."""
    size = (640, 360)
    frames = motion.zoom_pan_frames("histology", 7, size, 6 * FPS, FPS, pct_per_s=0.8, pan_px_per_s=2.0)
    motion.write_video(tmp_path / "zoom.mp4", frames, size, FPS)
    chunks = decode_frames(tmp_path / "zoom.mp4").chunks
    assert chunks and chunks[0].t_start == 0.0 and chunks[0].t_end >= 3.5


def test_long_slow_zoom_stays_one_chunk(tmp_path: Path) -> None:
    """A zoom that creeps past the bound (0.8 %/s for 10 s) goes on as the same chunk, not a second key frame."""
    size = (640, 360)
    frames = motion.zoom_pan_frames("histology", 9, size, 10 * FPS, FPS, pct_per_s=0.8, pan_px_per_s=1.0)
    motion.write_video(tmp_path / "zoom.mp4", frames, size, FPS)
    chunks = decode_frames(tmp_path / "zoom.mp4").chunks
    assert len(chunks) == 1 and chunks[0].t_start == 0.0 and chunks[0].t_end >= 8.0


def test_a_slow_drift_is_one_chunk_a_pan_is_motion(tmp_path: Path) -> None:
    """A view creeping at 1.5 px/s (320x240, 0.47 %/s) leaves its bounds every 2.5 s or more: one field,
    one chunk, pictured by one frame. At 2 px/s (0.6 %/s) the pieces last 2 s: a pan, no chunk (Quilt's
    semantics for a pan), also when one piece late in the pan happens to last 2.5 s.
    DecodeParams(chain_drift_pieces=False) keeps every piece apart."""
    slow, pan = tmp_path / "creep.mp4", tmp_path / "pan.mp4"
    make_lecture(slow, [SlideSpec("histology", 8.0, "", seed=3, motion="pan", motion_rate=1.5)], with_audio=False)
    make_lecture(pan, [SlideSpec("histology", 10.0, "", seed=3, motion="pan", motion_rate=2.0)], with_audio=False)
    chained = decode_frames(slow).chunks
    assert [(c.t_start, c.t_end) for c in chained] == [(0.0, 8.0)]
    assert decode_frames(pan).chunks == []
    apart = decode_frames(slow, DecodeParams(chain_drift_pieces=False)).chunks
    assert all(c.t_end - c.t_start <= 3.5 for c in apart)  # at most a piece that happened to last 3 s
