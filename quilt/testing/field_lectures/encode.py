"""Write a field lecture: H.264 video (with B-frames) and 44.1 kHz stereo AAC, through PyAV."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from quilt.testing.field_lectures.narration import AUDIO_RATE

AAC_FRAME = 1024


def room_sound(seconds: float, seed: int) -> np.ndarray:
    """What a lecture-room microphone hears under the voice: soft broadband noise and mains hum."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * AUDIO_RATE))
    noise = np.convolve(rng.normal(0, 0.004, n), np.ones(8) / 8, mode="same")  # dull, not hissy
    t = np.arange(n) / AUDIO_RATE
    hum = 0.0015 * np.sin(2 * np.pi * float(rng.choice([50.0, 60.0])) * t)
    return (noise + hum).astype(np.float32)


def write_video(path: Path, frames: Iterable[np.ndarray], size: tuple[int, int], fps: int,
                audio: np.ndarray) -> None:
    """Encode `frames` (RGB uint8 at `size`) and mono `audio` (float32 at AUDIO_RATE, sent as stereo)."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        # superfast (unlike ultrafast) writes B-frames, as most uploads have; crf 26 is a little lossier.
        video.codec_context.options = {"preset": "superfast", "crf": "26"}
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        # The right channel a little quieter: a lapel microphone is rarely centred.
        stereo = np.stack([audio, audio * 0.9]).astype(np.float32)
        for start in range(0, stereo.shape[1], AAC_FRAME):
            block = _audio_frame(stereo[:, start:start + AAC_FRAME], start)
            container.mux(sound.encode(block))
        container.mux(sound.encode(None))


def _audio_frame(block: np.ndarray, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout="stereo")
    frame.sample_rate = AUDIO_RATE
    frame.pts = pts
    frame.time_base = Fraction(1, AUDIO_RATE)
    return frame
