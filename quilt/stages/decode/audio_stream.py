"""Streaming audio: a file's first audio track as fixed-length 16 kHz mono windows.

Memory stays at about one window plus one decoded frame, whatever the file's length, so an
hour-long lecture can go to ASR (or the bucket) window by window.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from quilt.core.types import AudioWindow
from quilt.stages.common.media_io import corrupt, open_media


class _Windower:
    """Cuts a sample stream into windows; window k covers samples [round(k*w*rate), round((k+1)*w*rate))."""

    def __init__(self, rate: int, window_s: float) -> None:
        self.rate = rate
        self.window_s = window_s
        self.index = 0
        self.buffer = np.zeros(self._bounds(0)[1], dtype=np.float32)
        self.filled = 0

    def _bounds(self, k: int) -> tuple[int, int]:
        # Rounding each boundary from k (not accumulating lengths) keeps starts exact at k*window_s
        # even when window_s * rate is not a whole number.
        start = int(round(k * self.window_s * self.rate))
        return start, int(round((k + 1) * self.window_s * self.rate)) - start

    def _emit(self) -> AudioWindow:
        window = AudioWindow(t_start=self.index * self.window_s, samples=self.buffer[:self.filled].copy())
        self.index += 1
        self.buffer = np.zeros(self._bounds(self.index)[1], dtype=np.float32)
        self.filled = 0
        return window

    def feed(self, samples: np.ndarray | None, zeros: int = 0) -> Iterator[AudioWindow]:
        """Append `samples` (or `zeros` silent samples, without allocating them all at once)."""
        remaining = zeros if samples is None else samples.size
        pos = 0
        while remaining > 0:
            take = min(remaining, self.buffer.size - self.filled)
            if samples is not None:
                self.buffer[self.filled:self.filled + take] = samples[pos:pos + take]
            self.filled += take  # the buffer starts zeroed, so silence needs no copy
            pos += take
            remaining -= take
            if self.filled == self.buffer.size:
                yield self._emit()

    def flush(self) -> Iterator[AudioWindow]:
        if self.filled:
            yield self._emit()


def iter_audio(path: Path, rate: int = 16000, window_s: float = 30.0) -> Iterator[AudioWindow]:
    """Yield contiguous, non-overlapping windows of mono float32 audio; window k starts at k*window_s.

    Sample index == video time * rate: a first audio frame that starts late is preceded by
    silence, one that starts before zero is cut. The last window is shorter. Nothing is
    yielded when the file has no audio stream; StageError("corrupt_input") if it cannot be read.
    """
    if window_s <= 0 or rate <= 0:
        raise ValueError("rate and window_s must be positive")
    path = Path(path)
    windower = _Windower(rate, window_s)
    with open_media(path) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        skip: int | None = None  # samples still to drop (audio starting before t=0)
        try:
            for frame in container.decode(stream):
                if skip is None:
                    offset = int(round(float(frame.time or 0.0) * rate))
                    skip = max(0, -offset)
                    yield from windower.feed(None, zeros=max(0, offset))
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    if skip:
                        cut = min(skip, samples.size)
                        samples, skip = samples[cut:], skip - cut
                    yield from windower.feed(samples)
            for out in resampler.resample(None):
                yield from windower.feed(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except av.FFmpegError as err:
            raise corrupt(path, err) from err
    yield from windower.flush()
