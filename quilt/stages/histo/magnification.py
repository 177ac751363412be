"""Rough objective magnification of a histology frame, from the apparent size of its nuclei.

Nuclei are 6-10 um across whatever the organ, so their size as a fraction of the frame width
says how much tissue the frame spans: with Quilt's classes, about 2.2 mm or more at <=10x
("low", nuclei under ~0.5% of the width), ~1.1 mm at 20x ("medium"), less at >20x ("high").

The size is the scale of the strongest blob response in the haematoxylin (nuclear stain)
density: the scale-normalised Laplacian of Gaussian of a disc peaks at sigma = radius / sqrt(2).
Small scales are measured at full resolution in a central window, large ones on the whole
frame at half resolution and coarser: under 10 ms of CPU for a 640x480 frame.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.color import hed_from_rgb

from quilt.stages.histo.scorers import histo_score as score_frame

MAGNIFICATION_CLASSES = ("low", "medium", "high", "unknown")  # = quilt.core.records.MAGNIFICATIONS
# Nucleus diameter / frame width at the low|medium and medium|high edges (quilt/testing/tissue_set.py
# renders its truth with the same edges).
CLASS_EDGES = (0.005, 0.010)
# The blob scale overstates a nucleus's visible diameter by this factor: measured as the median
# ratio over the train split of tissue_set.magnification_set (the held-out split is for the test).
SCALE_BIAS = 1.55
SIGMAS = tuple(float(s) for s in np.geomspace(0.6, 24.0, 17))
LOG_STEP = float(np.log(SIGMAS[1] / SIGMAS[0]))
RESPONSE_SIGMAS = tuple(float(np.sqrt(a * b)) for a, b in zip(SIGMAS, SIGMAS[1:], strict=False))  # DoG pairs
FULL_RES_MAX_SIGMA = 2.5  # smaller scales need every pixel; larger ones are measured on a reduced frame
WINDOW = (256, 192)  # (width, height) of the full-resolution window
MAX_WIDTH = 960  # wider frames are reduced first (a 1080p frame by 2): same fractions, less work
MIN_RESPONSE = 0.01  # mean blob response below this: too few nuclei to say (pale stroma, blank, blur)
TISSUE_THRESHOLD = 0.5  # histology score under which the frame is not tissue

_H_VECTOR = hed_from_rgb[:, 0].astype(np.float32)  # optical density -> haematoxylin
_OD_LUT = (-np.log(np.maximum(np.arange(256), 1) / 255.0)).astype(np.float32)


def _haematoxylin(rgb: np.ndarray) -> np.ndarray:
    return np.clip(_OD_LUT[rgb] @ _H_VECTOR, 0.0, None)


def _halve(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _as_rgb8(image: np.ndarray) -> np.ndarray | None:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] < 3 or min(arr.shape[:2]) < 32:
        return None
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        scale = 255.0 if not np.issubdtype(arr.dtype, np.integer) and float(arr.max(initial=0)) <= 1.0 else 1.0
        arr = np.clip(arr.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
    step = -(-arr.shape[1] // MAX_WIDTH)
    return arr[::step, ::step] if step > 1 else arr


def _dog_stack(density: np.ndarray, sigmas: list[float], base: float) -> list[float]:
    """Mean positive difference-of-Gaussians response between consecutive scales of `sigmas`.

    `density` is already blurred to `base`; each blur adds only what the next scale needs, so the
    stack costs about one small Gaussian per scale. A DoG between sigma and k*sigma is the
    scale-normalised Laplacian at about sigma*sqrt(k), times (k^2 - 1) / 2.
    """
    out = []
    current, at = density, base
    for lo, hi in zip(sigmas, sigmas[1:], strict=False):
        if lo > at:
            current, at = gaussian_filter(current, np.sqrt(lo * lo - at * at), truncate=3.0), lo
        blurred = gaussian_filter(current, np.sqrt(hi * hi - lo * lo), truncate=3.0)
        k2 = (hi / lo) ** 2
        # Nuclei are haematoxylin peaks: the blurred image is lower there, so current - blurred > 0.
        out.append(float(np.clip(current - blurred, 0.0, None).mean()) * 2.0 / (k2 - 1.0))
        current, at = blurred, hi
    return out


def blob_responses(rgb: np.ndarray) -> np.ndarray:
    """Blob response of the haematoxylin density at each of RESPONSE_SIGMAS.

    Scales below FULL_RES_MAX_SIGMA: a central window at full resolution. Larger ones: the whole
    frame subsampled by 2, halved again for every octave beyond, so each Gaussian stays small.
    """
    h, w = rgb.shape[:2]
    wh, ww = min(h, WINDOW[1]), min(w, WINDOW[0])
    y0, x0 = (h - wh) // 2, (w - ww) // 2
    n_small = sum(s < FULL_RES_MAX_SIGMA for s in SIGMAS)
    out = _dog_stack(_haematoxylin(rgb[y0:y0 + wh, x0:x0 + ww]), list(SIGMAS[:n_small + 1]), 0.0)
    # The remaining pairs (SIGMAS[i], SIGMAS[i + 1]), grouped by the reduction they are measured at.
    by_factor: dict[int, list[float]] = {}
    for lo, hi in zip(SIGMAS[n_small:], SIGMAS[n_small + 1:], strict=False):
        factor = 2
        while lo / factor > FULL_RES_MAX_SIGMA and min(h, w) // (factor * 2) > 24:
            factor *= 2
        scales = by_factor.setdefault(factor, [])
        scales += [lo, hi] if not scales else [hi]
    level, at = _haematoxylin(rgb[::2, ::2]), 2
    for factor, scales in sorted(by_factor.items()):
        while at < factor:
            level, at = _halve(level), at * 2
        out += _dog_stack(level, [s / factor for s in scales], 0.0)
    return np.array(out)


def nucleus_diameter_fraction(image: np.ndarray) -> float | None:
    """Apparent nucleus diameter / frame width, or None when the blob signal is too weak."""
    rgb = _as_rgb8(image)
    if rgb is None:
        return None
    responses = blob_responses(rgb)
    best = int(np.argmax(responses))
    if responses[best] < MIN_RESPONSE:
        return None
    log_sigma = float(np.log(RESPONSE_SIGMAS[best]))
    if 0 < best < len(responses) - 1:  # parabola through the peak and its neighbours, in log sigma
        left, mid, right = responses[best - 1:best + 2]
        curvature = left - 2 * mid + right
        if curvature < 0:
            log_sigma += float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)) * LOG_STEP
    return 2.0 * np.sqrt(2.0) * float(np.exp(log_sigma)) / SCALE_BIAS / rgb.shape[1]


def magnification_class(image: np.ndarray, histo_score: float | None = None) -> str:
    """One of MAGNIFICATION_CLASSES: "unknown" when the frame is not tissue or its nuclei are unclear.

    `histo_score`, when the caller has it, saves scoring the frame again (the embedded model otherwise).
    """
    if histo_score is None:
        rgb = _as_rgb8(image)
        histo_score = score_frame(rgb) if rgb is not None else 0.0
    if histo_score < TISSUE_THRESHOLD:
        return "unknown"
    frac = nucleus_diameter_fraction(image)
    if frac is None:
        return "unknown"
    low, high = CLASS_EDGES
    return "low" if frac < low else "medium" if frac < high else "high"
