"""A user's histology-model plugin, as `QUILT_HISTO_MODEL=tests.histo_plugin_example:make_scorer` loads it.

A real one would wrap a convnet; this one calls a frame tissue when its red and blue outweigh
its green (H&E absorbs green), so tests can tell its scores from the embedded model's.
"""

from __future__ import annotations

import numpy as np

CALLS: list[int] = []  # how many images each score() call got, for the tests


class PinkPurpleScorer:
    name = "example-pink-purple-v1"

    def score(self, images: list[np.ndarray]) -> list[float]:
        CALLS.append(len(images))
        out = []
        for image in images:
            rgb = np.asarray(image, dtype=np.float64)[..., :3] / 255.0
            excess = float((rgb[..., 0] + rgb[..., 2]).mean() / 2.0 - rgb[..., 1].mean())
            out.append(float(np.clip(0.5 + 2.0 * excess, 0.0, 1.0)))
        return out


def make_scorer() -> PinkPurpleScorer:
    return PinkPurpleScorer()


def not_a_scorer() -> object:
    """A factory that returns the wrong thing: the loader must refuse it."""
    return {"name": "dict"}
