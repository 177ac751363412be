"""espeak-ng narration as samples: the benchmarks and the test media ship no recordings."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np


def espeak(text: str, voice: str | None = "en-us", rate_wpm: int = 150) -> tuple[np.ndarray, int]:
    """Mono float32 speech for `text` at espeak-ng's own sample rate, and that rate.

    `voice` None keeps espeak-ng's default voice.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it synthesises narration")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        voice_args = ["-v", voice] if voice else []
        # "--" so that narration starting with "-" is not read as an option.
        proc = subprocess.run([exe, *voice_args, "-s", str(rate_wpm), "-w", str(out), "--", text],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()}")
        with wave.open(str(out), "rb") as wav:
            channels, width = wav.getnchannels(), wav.getsampwidth()
            rate, raw = wav.getframerate(), wav.readframes(wav.getnframes())
    if width != 2:
        raise RuntimeError(f"espeak-ng wrote {8 * width}-bit audio; only 16-bit is handled")
    data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate
