"""Histology filter stage: key frames -> a calibrated P(histology) each, kept or not, with what the frame shows.

`filter_frames` is the stage's one entry point, called by the histo_filter service (whose scorer is the
model Triton serves) and by `quilt process` (which scores in-process). Before scoring, a frame whose
tissue sits inside UI chrome is cropped to the microscope field of view, the pictures inside a slide or
screen are found and scored on their own (so a slide's text never counts toward its micrograph's score),
and its impurities are tagged (persons, chrome, text, arrows, multi-panel figures); kept frames get a
magnification class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quilt.stages.histo.clip import ClipZeroShotScorer
from quilt.stages.histo.frame_view import FrameView, choose_view, frame_candidates
from quilt.stages.histo.magnification import magnification_class
from quilt.stages.histo.model import HistoModelError
from quilt.stages.histo.scorers import HistoScorer, LocalHistoScorer, TritonHistoScorer

__all__ = ["ClipZeroShotScorer", "FrameVerdict", "HistoModelError", "HistoParams", "HistoScorer",
           "LocalHistoScorer", "RegionVerdict", "TritonHistoScorer", "filter_frames"]


@dataclass(frozen=True)
class HistoParams:
    threshold: float = 0.5  # keep frames whose calibrated histology probability is at least this


@dataclass
class RegionVerdict:
    """Another clear histology picture of the same frame (a second panel, a second micrograph on a slide)."""

    view: FrameView  # cropped; view.crop is its box in the frame
    score: float
    magnification: str


@dataclass
class FrameVerdict:
    score: float
    keep: bool
    view: FrameView  # what was scored: the field of view when the frame was cropped, with its impurity tags
    magnification: str  # low | medium | high; "unknown" for a frame that is not kept
    others: list[RegionVerdict] = field(default_factory=list)  # the frame's other pictures, each its own image


def filter_frames(images: list[np.ndarray], scorer: HistoScorer, params: HistoParams) -> list[FrameVerdict]:
    """One verdict per RGB frame, in order, all scored in one `scorer.score` call.

    Each frame's main view and its picture regions are scored in that one call; a region that is clearly
    histology becomes the frame's view (cropped, its box in `view.crop`), and each other clear picture of
    the frame becomes a `RegionVerdict` of its own (see `choose_view`).
    """
    candidates = [frame_candidates(image) for image in images]
    batch: list[np.ndarray] = []
    for c in candidates:
        batch.append(c.main.image)
        batch.extend(c.region_images())
    scores = scorer.score(batch) if batch else []
    if len(scores) != len(batch):
        raise ValueError(f"scorer returned {len(scores)} scores for {len(batch)} images")
    verdicts = []
    at = 0
    for c in candidates:
        main_score, region_scores = scores[at], list(scores[at + 1:at + 1 + len(c.regions)])
        at += 1 + len(c.regions)
        chosen = choose_view(c, main_score, region_scores, params.threshold)
        keep = chosen.score >= params.threshold
        # Only kept frames become pairs, so only they pay for the (8 ms) magnification estimate.
        magnification = magnification_class(chosen.view.image, histo_score=chosen.score) if keep else "unknown"
        others = [RegionVerdict(view, score, magnification_class(view.image, histo_score=score))
                  for view, score in chosen.others] if keep else []
        verdicts.append(FrameVerdict(score=chosen.score, keep=keep, view=chosen.view, magnification=magnification,
                                     others=others))
    return verdicts
