"""Align stage: a video's scored pictures and denoised sentences -> image-text pairs.

`align_video` is the stage's one entry point, called by the aligner service and by `quilt process`:
it estimates the narrator's lag behind the slides, lets every picture (rejected ones and stretches
with no picture included) compete for the sentences said over it, pairs the medical sentences won by
kept pictures and drops near-duplicate pairs, and pairs that repeat what another video already said
over the same picture (`ImageTexts`).
"""

from __future__ import annotations

from quilt.stages.align.image_texts import ImageTexts
from quilt.stages.align.pairing import ALIGNER_NAME, Alignment, AlignParams, align_video

__all__ = ["ALIGNER_NAME", "AlignParams", "Alignment", "ImageTexts", "align_video"]
