"""Why an expected slide got no correct pair, from the video's trace (quilt/evaluation/video_trace.py).

The causes, checked in this order:
  no_image         no kept picture covers half the slide: the decoder found no still there, or the
                   histology filter rejected it.
  not_heard        no sentence lies mostly inside the slide: ASR heard nothing there.
  not_medical      sentences were heard but none was flagged medical: usually ASR garbled every
                   histopathology term of the narration, so nothing marked it as medical.
  glued            a medical sentence there runs more than GLUE_S past the slide: two slides' speech
                   became one sentence (a lost full stop) and went to one of them.
  paired_elsewhere a medical sentence was there and the picture was kept, yet no correct pair came of
                   it: the aligner gave it to another picture, or its text was too garbled to match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from quilt.evaluation.scoring import Segment
from quilt.evaluation.video_trace import VideoTrace

CAUSES = ("no_image", "not_heard", "not_medical", "glued", "paired_elsewhere")
GLUE_S = 2.0


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def miss_cause(segment: Segment, trace: VideoTrace) -> str:
    span = segment.t_end - segment.t_start
    if not any(c.keep and _overlap(c.t_start, c.t_end, segment.t_start, segment.t_end) >= 0.5 * span
               for c in trace.chunks):
        return "no_image"
    heard = [s for s in trace.sentences
             if _overlap(s.start, s.end, segment.t_start, segment.t_end) >= 0.5 * min(s.end - s.start, span)]
    if not heard:
        return "not_heard"
    medical = [s for s in heard if s.medical]
    if not medical:
        return "not_medical"
    if any(s.start < segment.t_start - GLUE_S or s.end > segment.t_end + GLUE_S for s in medical):
        return "glued"
    return "paired_elsewhere"


def count_causes(causes: Iterable[str]) -> dict[str, int]:
    """Every cause with its count (zeros included, in CAUSES order), plus `untraced` when some had no trace."""
    counts = Counter(causes)
    out = {cause: counts.get(cause, 0) for cause in CAUSES}
    if counts.get("untraced"):
        out["untraced"] = counts["untraced"]
    return out
