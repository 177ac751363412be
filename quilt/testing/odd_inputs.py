"""Unusual but valid inputs: variable frame rate, interlaced, odd sizes, rotated; and broken ones.

Broken inputs (truncated, garbage) and audio-only files live in lecture.py (make_corrupt,
make_audio_only); this module adds the encoders' odd corners.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from quilt.testing.lecture import LectureTruth, SlideSpec, make_lecture, render_slide


def make_vfr(path: Path, slides: list[SlideSpec], seed: int = 0, size: tuple[int, int] = (320, 240)) -> LectureTruth:
    """H.264 in a millisecond time base with irregular frame spacing (30-180 ms), like a screen recorder."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = LectureTruth()
    t_ms = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.options = {"preset": "ultrafast", "crf": "23"}
        for spec in slides:
            start_ms, end_ms = t_ms, t_ms + int(spec.seconds * 1000)
            image = render_slide(spec, size)
            while t_ms < end_ms:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = t_ms
                frame.time_base = Fraction(1, 1000)
                container.mux(stream.encode(frame))
                t_ms += int(rng.integers(30, 181))
            t_ms = max(t_ms, end_ms)
            truth.slides.append((start_ms / 1000, end_ms / 1000, spec.kind, ""))
        container.mux(stream.encode(None))
    truth.duration_s = t_ms / 1000
    return truth


def make_interlaced(path: Path, slides: list[SlideSpec]) -> LectureTruth:
    """Interlaced H.264 (top field first), as broadcast or camcorder captures are."""
    return make_lecture(path, slides, with_audio=False, interlaced=True)
