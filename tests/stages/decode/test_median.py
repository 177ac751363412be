"""The fast frame median equals numpy's median."""

from __future__ import annotations

import numpy as np
import pytest

from quilt.stages.decode.median import median_frames


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8, 9])
def test_matches_numpy(count: int) -> None:
    rng = np.random.default_rng(count)
    frames = [rng.integers(0, 256, (7, 5, 3), dtype=np.uint8) for _ in range(count)]
    expected = np.median(np.stack(frames), axis=0)
    got = median_frames(frames)
    assert got.dtype == np.uint8
    if count % 2:
        assert np.array_equal(got, expected.astype(np.uint8))
    else:  # numpy gives x.5; we round half up
        assert np.array_equal(got, np.floor(expected + 0.5).astype(np.uint8))


def test_inputs_are_not_modified() -> None:
    frames = [np.full((2, 2, 3), v, dtype=np.uint8) for v in (9, 1, 5)]
    median_frames(frames)
    assert [int(f[0, 0, 0]) for f in frames] == [9, 1, 5]
