"""The float32 SSIM map matches scikit-image's."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from quilt.stages.decode.ssim import ssim_map


def test_matches_skimage_on_related_and_unrelated_images() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (72, 128)).astype(np.float32)
    for b in (a, np.clip(a + rng.normal(0, 8, a.shape), 0, 255), rng.integers(0, 256, a.shape).astype(np.float32)):
        _, expected = structural_similarity(a, b.astype(np.float32), data_range=255.0, full=True)
        assert np.allclose(ssim_map(a, b), expected, atol=2e-3)
