"""Synthetic narration via espeak-ng, so tests need no recorded audio in git."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        channels = wav.getnchannels()
        width = wav.getsampwidth()
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise RuntimeError(f"espeak-ng wrote {8 * width}-bit audio; only 16-bit is handled")
    data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Linear interpolation: crude, but speech stays intelligible for ASR tests."""
    if src_rate == dst_rate or audio.size == 0:
        return audio.astype(np.float32)
    n_out = int(round(audio.size * dst_rate / src_rate))
    t_out = np.arange(n_out, dtype=np.float64) * (src_rate / dst_rate)
    return np.interp(t_out, np.arange(audio.size), audio).astype(np.float32)


def speak(text: str, rate_wpm: int = 150) -> np.ndarray:
    """Mono float32 speech at 16 kHz for `text`."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it synthesises narration")
    if not text.strip():
        return np.zeros(0, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        # "--" so that narration starting with "-" is not read as an option.
        proc = subprocess.run([exe, "-v", "en-us", "-s", str(rate_wpm), "-w", str(out), "--", text],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()}")
        data, rate = _read_wav(out)
    return resample(data, rate, SAMPLE_RATE)
