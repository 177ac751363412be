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

from quilt.stages.histo.boxes import Box, box_area, box_iou, inside_share
from quilt.stages.histo.impurity import TAGS, inspect_work, is_multi_panel, prepare_work, to_full
from quilt.stages.histo.regions import find_picture_boxes

# A region replaces the main view only when it is clearly histology: its score clears the threshold by
# this much. The regions of a slide are extra chances to pass, so a bare pass would cost precision.
REGION_MARGIN = 0.3
SAME_BOX_IOU = 0.9  # a region this close to the chrome crop is that crop, already scored
INSIDE_SHARE = 0.9  # a passing chrome crop yields only to a clear picture lying (almost) wholly inside it
MAX_UNION_GROWTH = 1.5  # panels are shown as one image only when little else lies between them


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


def choose_view(candidates: FrameCandidates, main_score: float, region_scores: list[float],
                threshold: float) -> tuple[FrameView, float]:
    """The view the frame's verdict uses, and its score.

    The main view stands unless a picture region is clearly histology (and, when the main view is a passing
    field-of-view crop, lies inside it): then the view is that region, cropped, so the slide's title, caption and
    background never count toward the tissue's score. Several clear regions close together (panels) become
    one view spanning them, scored by the weakest of them.
    """
    clear = [i for i, s in enumerate(region_scores) if s >= threshold + REGION_MARGIN]
    crop = candidates.main.crop
    if crop is not None and main_score >= threshold:  # a passing field of view yields only to a picture inside it
        clear = [i for i in clear if inside_share(candidates.regions[i], crop) >= INSIDE_SHARE]
    if not clear:
        return candidates.main, main_score
    best = max(clear, key=lambda i: region_scores[i])
    chosen, score = candidates.regions[best], region_scores[best]
    if len(clear) > 1:
        boxes = [candidates.regions[i] for i in clear]
        union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                 max(b[3] for b in boxes))
        if box_area(union) <= MAX_UNION_GROWTH * sum(box_area(b) for b in boxes):
            chosen, score = union, min(region_scores[i] for i in clear)
    tags = list(candidates.main.tags)
    several = chosen != candidates.regions[best] or best in candidates.panel_regions
    if several and "multi_panel" not in tags:
        tags.append("multi_panel")
    return FrameView(image=_cut(candidates.frame, chosen), crop=chosen, tags=_in_tag_order(tags)), score


def _in_tag_order(tags: list[str]) -> list[str]:
    return [t for t in TAGS if t in tags]
