"""Synthetic narration via espeak-ng, so tests need no recorded audio in git."""

from __future__ import annotations

import numpy as np

from quilt.evaluation.bench.espeak import espeak

SAMPLE_RATE = 16000


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Linear interpolation: crude, but speech stays intelligible for ASR tests."""
    if src_rate == dst_rate or audio.size == 0:
        return audio.astype(np.float32)
    n_out = int(round(audio.size * dst_rate / src_rate))
    t_out = np.arange(n_out, dtype=np.float64) * (src_rate / dst_rate)
    return np.interp(t_out, np.arange(audio.size), audio).astype(np.float32)


def speak(text: str, rate_wpm: int = 150) -> np.ndarray:
    """Mono float32 speech at 16 kHz for `text`."""
    if not text.strip():
        return np.zeros(0, dtype=np.float32)
    data, rate = espeak(text, "en-us", rate_wpm)
    return resample(data, rate, SAMPLE_RATE)
