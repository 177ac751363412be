"""Micrographs inside slides and screens: found as regions, scored on their own, kept with their crop."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from quilt.core.boxes import box_iou
from quilt.stages.histo import FrameVerdict, HistoParams, LocalHistoScorer, filter_frames
from quilt.stages.histo.frame_view import frame_candidates
from quilt.stages.histo.impurity import find_tissue_box
from quilt.testing.impure import clean_tissue, multi_panel, viewer_window
from tests.stages.histo import picture_slides as slides

POSITIONS = ("left", "right", "centre")
NEGATIVES = {"text": slides.text_only_slide, "person": slides.person_slide, "chart": slides.chart_slide,
             "desktop": slides.desktop_slide}


@pytest.fixture(scope="module")
def scorer() -> LocalHistoScorer:
    return LocalHistoScorer()


class CountingScorer:
    """Passes through to the embedded model and records each call's batch size."""

    name = "counting"

    def __init__(self, inner: LocalHistoScorer) -> None:
        self.inner, self.batches = inner, list[int]()

    def score(self, images: list[np.ndarray]) -> list[float]:
        self.batches.append(len(images))
        return self.inner.score(images)


def _jpeg(image: np.ndarray) -> np.ndarray:
    """The frame as the histo_filter service reads it back from the bucket."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=80)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _verdict(image: np.ndarray, scorer: LocalHistoScorer) -> FrameVerdict:
    [verdict] = filter_frames([image], scorer, HistoParams())
    return verdict


@pytest.mark.parametrize("kind", slides.TISSUE_KINDS)
@pytest.mark.parametrize("position", POSITIONS)
def test_picture_in_slide_is_found_and_kept_with_its_crop(kind: str, position: str, scorer: LocalHistoScorer) -> None:
    seed = POSITIONS.index(position) + 3 * slides.TISSUE_KINDS.index(kind)
    image, truth = slides.picture_slide(kind, seed, position)
    regions = frame_candidates(image).regions
    assert regions and box_iou(regions[0], truth) >= 0.8, (regions, truth)
    verdict = _verdict(_jpeg(image), scorer)
    assert verdict.keep, (verdict.score, verdict.view.crop)
    assert verdict.view.crop is not None and box_iou(verdict.view.crop, truth) >= 0.8
    x0, y0, x1, y1 = verdict.view.crop
    assert verdict.view.image.shape[:2] == (y1 - y0, x1 - x0)
    assert verdict.magnification != "unknown"
    # The slide's text and background pulled the whole frame's score down; the crop's score excludes them.
    [whole] = scorer.score([image])
    assert verdict.score > whole


def test_slides_the_whole_frame_score_drops_are_rescued(scorer: LocalHistoScorer) -> None:
    """The issue's case: a slide scored on the whole frame fails, its picture alone passes."""
    rescued = 0
    for seed in range(6):
        image, truth = slides.picture_slide("histology_slide", seed, POSITIONS[seed % 3])
        [whole] = scorer.score([image])
        verdict = _verdict(image, scorer)
        if whole < 0.5:
            assert verdict.keep and verdict.view.crop is not None and box_iou(verdict.view.crop, truth) >= 0.8
            rescued += 1
    assert rescued >= 3


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_two_panels_side_by_side_are_one_view_spanning_both(seed: int, scorer: LocalHistoScorer) -> None:
    image, truth = slides.two_panel_slide(seed)
    verdict = _verdict(image, scorer)
    assert verdict.keep and verdict.view.crop is not None
    assert box_iou(verdict.view.crop, truth) >= 0.8, (verdict.view.crop, truth)
    assert "multi_panel" in verdict.view.tags


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_slides_without_tissue_stay_rejected(name: str, scorer: LocalHistoScorer) -> None:
    for seed in range(len(slides.BACKGROUNDS)):
        image = NEGATIVES[name](seed)
        for frame in (image, _jpeg(image)):
            verdict = _verdict(frame, scorer)
            assert not verdict.keep, (name, seed, verdict.score, verdict.view.crop)


def test_regions_are_scored_in_the_frames_one_call(scorer: LocalHistoScorer) -> None:
    frames = [slides.picture_slide("skimage_ihc", 1, "right")[0], slides.text_only_slide(0),
              slides.person_slide(1), clean_tissue(2)[0]]
    counting = CountingScorer(scorer)
    verdicts = filter_frames(frames, counting, HistoParams())
    assert len(counting.batches) == 1
    assert counting.batches[0] == len(frames) + sum(len(frame_candidates(f).regions) for f in frames)
    assert [v.keep for v in verdicts] == [True, False, False, True]
    assert filter_frames([], counting, HistoParams()) == [] and len(counting.batches) == 1


def test_frames_without_picture_regions_behave_as_before(scorer: LocalHistoScorer) -> None:
    tissue = clean_tissue(3)[0]
    assert frame_candidates(tissue).regions == []
    verdict = _verdict(tissue, scorer)
    assert verdict.view.crop is None and verdict.score == scorer.score([tissue])[0]
    figure = multi_panel(5, 2, 2)[0]
    assert _verdict(figure, scorer).view.crop is None


@pytest.mark.parametrize("seed", range(3))
def test_chrome_crop_is_still_the_field_of_view(seed: int, scorer: LocalHistoScorer) -> None:
    image, _, truth = viewer_window(seed)
    assert truth is not None
    verdict = _verdict(image, scorer)
    assert verdict.keep and verdict.view.crop == find_tissue_box(image)
    assert "ui_chrome" in verdict.view.tags


@pytest.mark.parametrize("seed", range(4))
def test_two_separate_micrographs_are_two_images(seed: int, scorer: LocalHistoScorer) -> None:
    image, truths = slides.two_picture_slide(seed)
    verdict = _verdict(_jpeg(image), scorer)
    assert verdict.keep and len(verdict.others) == 1, (verdict.view.crop, [o.view.crop for o in verdict.others])
    crops = [verdict.view.crop, verdict.others[0].view.crop]
    # Each picture is matched by one crop; neither crop spans both.
    for truth in truths:
        assert max(box_iou(c, truth) for c in crops if c is not None) >= 0.8, (crops, truths)
    other = verdict.others[0]
    assert other.score >= 0.8 and other.view.image.shape[:2] == (other.view.crop[3] - other.view.crop[1],
                                                                 other.view.crop[2] - other.view.crop[0])
    assert other.magnification in ("low", "medium", "high", "unknown")


def test_a_rejected_frame_has_no_other_pictures(scorer: LocalHistoScorer) -> None:
    for name, make in NEGATIVES.items():
        verdict = _verdict(make(1), scorer)
        assert not verdict.keep and verdict.others == [], name
