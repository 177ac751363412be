"""What the histology classifier looks at: the microscope field of view, the pictures inside a slide, and
the frame's impurities.

Shared by the histo_filter service (which scores the views through Triton) and `quilt process` (which
scores them in-process). A frame gives its main view (the frame, or its field of view cropped out of UI
chrome) and up to a few picture regions (micrographs inside a slide, beside text, in viewer software,
panels side by side); `choose_view` decides, from their scores, which one the frame's verdict uses. The
UI-chrome crop is one such picture found by the older field-of-view check; a region that repeats it is
not scored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quilt.core.boxes import Box, box_iou, inside_share, intersection
from quilt.stages.histo.borders import letterbox_box
from quilt.stages.histo.impurity import TAGS, inspect_work, is_multi_panel, prepare_work, to_full
from quilt.stages.histo.regions import find_picture_boxes

# A region replaces the main view only when it is clearly histology: its score clears the threshold by
# this much. The regions of a slide are extra chances to pass, so a bare pass would cost precision.
REGION_MARGIN = 0.3
SAME_BOX_IOU = 0.9  # a region this close to the chrome crop is that crop, already scored
INSIDE_SHARE = 0.9  # a passing chrome crop yields only to a clear picture lying (almost) wholly inside it
SEPARATE_IOU = 0.3  # two clear regions overlapping less than this (and neither inside the other) are two pictures


@dataclass
class FrameView:
    image: np.ndarray  # the cropped field of view or picture, or the whole frame
    crop: tuple[int, int, int, int] | None  # (x0, y0, x1, y1) in the frame, None when not cropped
    tags: list[str]


@dataclass
class FrameCandidates:
    """The main view (as before picture regions existed) and the picture regions to score beside it."""

    frame: np.ndarray
    main: FrameView
    regions: list[Box] = field(default_factory=list)  # full-resolution boxes
    panel_regions: set[int] = field(default_factory=set)  # indexes of regions that are multi-panel figures

    def region_images(self) -> list[np.ndarray]:
        return [_cut(self.frame, box) for box in self.regions]


def _cut(frame: np.ndarray, box: Box) -> np.ndarray:
    return np.ascontiguousarray(frame[box[1]:box[3], box[0]:box[2]])


def frame_candidates(frame: np.ndarray) -> FrameCandidates:
    """The main view, its impurity tags and the frame's picture regions, from one pass over shared maps."""
    arr = np.asarray(frame)
    work = prepare_work(arr)
    crop, tags = inspect_work(work, arr.shape)
    # Letterbox or pillarbox bars are never part of the picture, whether or not chrome was found around it.
    bars = letterbox_box(arr)
    if bars is not None:
        crop = bars if crop is None else (intersection(crop, bars) or crop)
    main = FrameView(image=_cut(arr, crop) if crop else np.ascontiguousarray(arr), crop=crop, tags=tags)
    regions: list[Box] = []
    panels: set[int] = set()
    for box in find_picture_boxes(work):
        full = to_full(box, work.factor, arr.shape)
        several = is_multi_panel(work.sub(box))
        if crop is not None and box_iou(full, crop) >= SAME_BOX_IOU:
            # The chrome crop found this picture already; the frame-wide gutter check can miss its panels
            # when a title or caption spans the gutter.
            if several and "multi_panel" not in tags:
                main.tags = _in_tag_order([*tags, "multi_panel"])
            continue
        if several:
            panels.add(len(regions))
        regions.append(full)
    return FrameCandidates(frame=arr, main=main, regions=regions, panel_regions=panels)


def frame_view(frame: np.ndarray) -> FrameView:
    """The main view alone: the frame, or its field of view when UI chrome surrounds the tissue."""
    return frame_candidates(frame).main


@dataclass
class ChosenViews:
    """The view a frame's verdict uses and its score, and the frame's other clear histology pictures."""

    view: FrameView
    score: float
    others: list[tuple[FrameView, float]] = field(default_factory=list)  # each cropped, in reading order


def choose_view(candidates: FrameCandidates, main_score: float, region_scores: list[float],
                threshold: float) -> ChosenViews:
    """The frame's view, its score, and every other picture of the frame that is clearly histology.

    The main view stands unless a picture region is clearly histology (and, when the main view is a passing
    field-of-view crop, lies inside it): then the view is that region, cropped, so the slide's title, caption and
    background never count toward the tissue's score. Every other clear region that does not overlap an
    earlier one (panels side by side, two micrographs on one slide) is its own picture in `others`.
    """
    clear = [i for i, s in enumerate(region_scores) if s >= threshold + REGION_MARGIN]
    crop = candidates.main.crop
    if crop is not None and main_score >= threshold:  # a passing field of view yields only to a picture inside it
        clear = [i for i in clear if inside_share(candidates.regions[i], crop) >= INSIDE_SHARE]
    if not clear:
        return ChosenViews(candidates.main, main_score)
    chosen: list[int] = []
    for i in sorted(clear, key=lambda k: (-region_scores[k], candidates.regions[k])):
        box = candidates.regions[i]
        if all(box_iou(box, candidates.regions[k]) < SEPARATE_IOU
               and inside_share(box, candidates.regions[k]) < SEPARATE_IOU
               and inside_share(candidates.regions[k], box) < SEPARATE_IOU for k in chosen):
            chosen.append(i)
    best, rest = chosen[0], sorted(chosen[1:], key=lambda k: (candidates.regions[k][1], candidates.regions[k][0]))
    return ChosenViews(_region_view(candidates, best), region_scores[best],
                       [(_region_view(candidates, k), region_scores[k]) for k in rest])


def _region_view(candidates: FrameCandidates, index: int) -> FrameView:
    """A picture region as a view: the frame's tags, with multi_panel only for a figure of several panels."""
    box = candidates.regions[index]
    tags = [t for t in candidates.main.tags if t != "multi_panel"]
    if index in candidates.panel_regions:
        tags.append("multi_panel")
    return FrameView(image=_cut(candidates.frame, box), crop=box, tags=_in_tag_order(tags))


def _in_tag_order(tags: list[str]) -> list[str]:
    return [t for t in TAGS if t in tags]
