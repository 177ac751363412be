"""A second lecture generator, built to differ from the tuning one: an evaluation set the pipeline was not tuned on.

    python -m quilt.testing.field_lectures --out DIR --split tuning|heldout --count N [--first K]

writes DIR/field-<split>-NN.mp4 and DIR/field-<split>-NN.truth.json, in the truth format of
`quilt.testing.eval_lectures` (read by `quilt eval`). It shares no rendering code with
`quilt/testing/lecture.py` and its helpers: its own slide designs (themes, title bars,
captions, logos, footers), its own tissue (procedural H&E optics, re-stained DAB crops), its
own sentences, and other espeak-ng voices and speeds. Each histology segment carries one
nuisance the tuning generator never draws (`HISTOLOGY_NUISANCES`): a shaking live view, a slow
zoom with pan, a micrograph framed inside a slide, two panels side by side, a presenter webcam
in a corner, letterboxing. Most lectures are 720p at 30 fps. Segments carry two keys beyond
the shared format, which the scorer ignores: `nuisance` and `picture_boxes` (where the
micrographs sit, x0 y0 x1 y1 in frame pixels). Seeds of the two splits are disjoint.
"""

from __future__ import annotations

from quilt.testing.field_lectures.lecture import make_field_lecture, truth_dict
from quilt.testing.field_lectures.plan import HISTOLOGY_NUISANCES, SPLIT_SEEDS, lecture_plan

__all__ = ["HISTOLOGY_NUISANCES", "SPLIT_SEEDS", "lecture_plan", "make_field_lecture", "truth_dict"]
