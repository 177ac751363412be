"""What the histology classifier looks at: the microscope field of view, and the frame's impurities.

Shared by the histo_filter service (which scores the view through Triton) and
`quilt process` (which scores it in-process).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quilt.stages.histo.impurity import inspect


@dataclass
class FrameView:
    image: np.ndarray  # the cropped field of view, or the whole frame
    crop: tuple[int, int, int, int] | None  # (x0, y0, x1, y1) in the frame, None when not cropped
    tags: list[str]


def frame_view(frame: np.ndarray) -> FrameView:
    box, tags = inspect(frame)
    view = frame[box[1]:box[3], box[0]:box[2]] if box else frame
    return FrameView(image=np.ascontiguousarray(view), crop=box, tags=tags)
