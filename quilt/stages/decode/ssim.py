"""The SSIM map of two grey thumbnails, as scikit-image computes it, in float32.

Same definition as `skimage.metrics.structural_similarity(a, b, data_range=255, full=True)`
(7x7 uniform window, sample covariance, K1=0.01, K2=0.03, reflected borders), but in
single precision and without its argument checks: the decoder calls it twice per
sampled frame, and this halves that cost.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

_WIN = 7
_NP = _WIN * _WIN
_COV_NORM = _NP / (_NP - 1)
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x = np.asarray(a, dtype=np.float32)
    y = np.asarray(b, dtype=np.float32)
    ux = uniform_filter(x, _WIN)
    uy = uniform_filter(y, _WIN)
    uxx = uniform_filter(x * x, _WIN)
    uyy = uniform_filter(y * y, _WIN)
    uxy = uniform_filter(x * y, _WIN)
    vx = _COV_NORM * (uxx - ux * ux)
    vy = _COV_NORM * (uyy - uy * uy)
    vxy = _COV_NORM * (uxy - ux * uy)
    numerator = (2 * ux * uy + _C1) * (2 * vxy + _C2)
    denominator = (ux * ux + uy * uy + _C1) * (vx + vy + _C2)
    return numerator / denominator
