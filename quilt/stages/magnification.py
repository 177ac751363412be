"""Rough objective magnification of a histology frame: low, medium or high.

First version: apparent nucleus size from the haematoxylin channel (scale of the strongest
Laplacian-of-Gaussian response) relative to the frame's short side.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_laplace
from skimage.color import rgb2hed

MAGNIFICATION_CLASSES = ("low", "medium", "high", "unknown")
_WORK_SIDE = 256
_SIGMAS = (1.0, 1.5, 2.2, 3.2, 4.6, 6.6, 9.5, 13.7)


def magnification_class(image: np.ndarray) -> str:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] < 3 or min(arr.shape[:2]) < 16:
        return "unknown"
    step = max(1, max(arr.shape[:2]) // _WORK_SIDE)
    rgb = arr[::step, ::step, :3].astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        rgb /= 255.0
    h = np.clip(rgb2hed(np.clip(rgb, 0, 1))[..., 0], 0, None)
    if float(h.std()) < 0.005:
        return "unknown"
    responses = [float(np.percentile(-gaussian_laplace(h, s) * s * s, 99)) for s in _SIGMAS]
    best = _SIGMAS[int(np.argmax(responses))]
    radius_frac = best * 1.414 / min(h.shape)
    if radius_frac < 0.012:
        return "low"
    if radius_frac < 0.03:
        return "medium"
    return "high"
