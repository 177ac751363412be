"""Letterbox and pillarbox bars are trimmed before scoring, even after a codec has made them noisy."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from quilt.core.boxes import box_iou
from quilt.stages.histo import HistoParams, LocalHistoScorer, filter_frames
from quilt.stages.histo.borders import letterbox_box
from quilt.testing.slides import histology_slide, ihc_slide, text_slide


def _jpeg(image: np.ndarray, quality: int = 80) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _boxed(picture: np.ndarray, size: tuple[int, int], aspect: float) -> tuple[np.ndarray, tuple[int, ...]]:
    """`picture` fitted at `aspect` inside a black frame of `size`: bars above and below, or beside."""
    width, height = size
    if width / height < aspect:
        inner = (width, int(round(width / aspect)))
    else:
        inner = (int(round(height * aspect)), height)
    x0, y0 = (width - inner[0]) // 2, (height - inner[1]) // 2
    frame = np.zeros((height, width, 3), np.uint8)
    frame[y0:y0 + inner[1], x0:x0 + inner[0]] = np.asarray(Image.fromarray(picture).resize(inner))
    return frame, (x0, y0, x0 + inner[0], y0 + inner[1])


@pytest.mark.parametrize("aspect", [2.35, 2.0, 4 / 3])
def test_bars_are_found_after_compression(aspect: float) -> None:
    frame, truth = _boxed(ihc_slide(3, (640, 480)), (960, 540), aspect)
    box = letterbox_box(_jpeg(frame))
    assert box is not None and box_iou(box, truth) >= 0.97, (box, truth)


def test_frames_without_bars_are_left_alone() -> None:
    assert letterbox_box(histology_slide(2, (640, 360))) is None
    assert letterbox_box(np.zeros((360, 640, 3), np.uint8)) is None  # all black: nothing inside
    assert letterbox_box(np.zeros((8, 8, 3), np.uint8)) is None
    # A microscope's round field of view: its dark corners are no bars; only wholly black columns
    # beside the circle may go, never any of the tissue.
    tissue = histology_slide(4, (640, 480)).copy()
    yy, xx = np.mgrid[:480, :640]
    tissue[(yy - 240) ** 2 + (xx - 320) ** 2 > 235 ** 2] = 0
    box = letterbox_box(_jpeg(tissue))
    assert box is None or (box[0] <= 320 - 235 + 2 and box[2] >= 320 + 235 - 2 and (box[1], box[3]) == (0, 480))
    # A thin dark edge is not a letterbox.
    edged = histology_slide(5, (640, 360)).copy()
    edged[:4] = 0
    assert letterbox_box(edged) is None


@pytest.mark.parametrize("seed", range(3))
def test_letterboxed_ihc_is_scored_without_its_bars(seed: int) -> None:
    scorer = LocalHistoScorer()
    frame, truth = _boxed(ihc_slide(seed, (640, 480)), (960, 540), 2.35)
    [verdict] = filter_frames([_jpeg(frame)], scorer, HistoParams())
    assert verdict.keep and verdict.view.crop is not None and box_iou(verdict.view.crop, truth) >= 0.95
    assert verdict.score >= 0.9


def test_a_letterboxed_text_slide_stays_rejected() -> None:
    frame, _ = _boxed(text_slide("Course outline", ["Liver", "Kidney", "Lung"]), (960, 540), 4 / 3)
    [verdict] = filter_frames([_jpeg(frame)], LocalHistoScorer(), HistoParams())
    assert not verdict.keep
