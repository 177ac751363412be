"""Video file -> stable frame chunks + 16 kHz mono audio (Quilt's frame-extraction step).

A "stable chunk" is a run of sampled frames that each look like their predecessor
(SSIM on small grey thumbnails), lasting at least `min_duration_s`. Its image is the
pixel-wise median of a few evenly spaced full-resolution frames, which removes a
moving mouse pointer and codec noise without blurring the slide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from skimage.metrics import structural_similarity

from quilt.stages.imaging import phash, sharpness
from quilt.stages.types import DecodedVideo, FrameChunk, StageError

_EPS = 1e-6


@dataclass(frozen=True)
class DecodeParams:
    sample_fps: float = 2.0  # frames examined per second
    thumb_size: int = 64  # side of the square grey thumbnail used for the stability test
    # Quilt uses 0.98. On generated H.264 stills the codec noise keeps consecutive
    # thumbnails at SSIM > 0.995, and a small moving pointer costs < 0.01, while a
    # slide change drops SSIM far below 0.9, so Quilt's value works unchanged here.
    ssim_threshold: float = 0.98
    min_duration_s: float = 3.0
    max_median_frames: int = 9
    audio_rate: int = 16000


class _Run:
    """The current run of similar frames; keeps at most ~max_frames evenly spaced full-res frames."""

    def __init__(self, t_start: float, max_frames: int) -> None:
        self.t_start = t_start
        self.t_last = t_start
        self.count = 0
        self.stride = 1
        self.max_frames = max(1, max_frames)
        self.frames: list[np.ndarray] = []

    def wants(self) -> bool:
        """Whether the next frame (index `count`) would be kept; lets the caller skip RGB conversion."""
        return self.count % self.stride == 0

    def add(self, t: float, rgb: np.ndarray | None) -> None:
        if rgb is not None:
            self.frames.append(rgb)
            if len(self.frames) > self.max_frames:
                # Halve the density instead of growing: memory stays bounded for hour-long stills.
                self.frames = self.frames[::2]
                self.stride *= 2
        self.t_last = t
        self.count += 1

    def image(self) -> np.ndarray:
        frames = self.frames[-self.max_frames:]
        if len(frames) == 1:
            return frames[0]
        return np.median(np.stack(frames), axis=0).astype(np.uint8)


def _rotate(rgb: np.ndarray, rotation: float) -> np.ndarray:
    """Apply display-matrix rotation (degrees counter-clockwise, as FFmpeg reports it)."""
    quarter = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=quarter)) if quarter else rgb


def _thumb(frame: av.VideoFrame, size: int) -> np.ndarray:
    # swscale does the shrinking, so no full-size RGB copy is made for frames we do not keep.
    grey = frame.reformat(width=size, height=size, format="gray")
    return grey.to_ndarray().astype(np.float32)


def _corrupt(path: Path, err: BaseException) -> StageError:
    return StageError("corrupt_input", f"cannot decode {path.name}: {type(err).__name__}: {err}")


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise _corrupt(path, err) from err


def _finish(run: _Run | None, params: DecodeParams, t_end: float, out: list[FrameChunk]) -> None:
    """Close a run whose picture stayed on screen until `t_end` (when the next, different frame came)."""
    if run is None or not run.frames:
        return
    if t_end - run.t_start + _EPS < params.min_duration_s:
        return
    image = run.image()
    out.append(FrameChunk(t_start=run.t_start, t_end=t_end, image=image,
                          sharpness=sharpness(image), phash=phash(image)))


def _video_chunks(path: Path, params: DecodeParams, declared: float) -> tuple[list[FrameChunk], float]:
    """Returns the chunks and the time just past the last decoded frame."""
    chunks: list[FrameChunk] = []
    step = 1.0 / params.sample_fps
    next_sample = -math.inf
    prev_thumb: np.ndarray | None = None
    run: _Run | None = None
    last_t = 0.0
    seen = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:  # no timestamps at all: fall back to the nominal rate
                    rate = float(stream.average_rate or 25)
                    t = seen / rate
                seen += 1
                last_t = max(last_t, t)
                if t + _EPS < next_sample:
                    continue
                next_sample = (math.floor(t / step + _EPS) + 1) * step
                thumb = _thumb(frame, params.thumb_size)
                similar = prev_thumb is not None and structural_similarity(
                    prev_thumb, thumb, data_range=255.0) >= params.ssim_threshold
                prev_thumb = thumb
                rotation = float(getattr(frame, "rotation", 0) or 0)
                if run is not None and similar and run.frames and not run.wants():
                    run.add(t, None)
                    continue
                rgb = _rotate(frame.to_ndarray(format="rgb24"), rotation)
                # A resolution change mid-stream also ends a run: the median needs equal shapes.
                if run is None or not similar or (run.frames and run.frames[0].shape != rgb.shape):
                    # For constant frame rates t == t_last + 1/sample_fps (Quilt's rule); for
                    # variable-rate screen recordings a still may be one frame shown for seconds.
                    _finish(run, params, t, chunks)
                    run = _Run(t, params.max_median_frames)
                run.add(t, rgb)
        except av.FFmpegError as err:
            raise _corrupt(path, err) from err
    if seen == 0:
        raise StageError("corrupt_input", f"cannot decode {path.name}: no decodable video frames")
    frame_step = 1.0 / float(stream.average_rate) if stream.average_rate else step
    end = last_t + frame_step
    # A file cut short after a front-loaded index (faststart MP4) decodes without any
    # error; only the stream's declared length reveals that most of it is missing.
    expected = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
    if expected > 0 and end < 0.9 * expected - 1.0:
        raise StageError("corrupt_input", f"cannot decode {path.name}: truncated, video stops at {end:.1f}s "
                                          f"of a declared {expected:.1f}s")
    if run is not None:
        t_end = max(run.t_last + step, end)
        _finish(run, params, min(t_end, declared) if declared > 0 else t_end, chunks)
    return chunks, end


def _audio(path: Path, rate: int) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts: list[np.ndarray] = []
    offset: float | None = None
    with _open(path) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                if offset is None and frame.time is not None:
                    offset = float(frame.time)
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as err:
            raise _corrupt(path, err) from err
    audio = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)
    # Keep sample index == video time * rate, so ASR timestamps line up with frame chunks.
    shift = int(round((offset or 0.0) * rate))
    if shift > 0:
        audio = np.concatenate([np.zeros(shift, dtype=np.float32), audio])
    elif shift < 0:
        audio = audio[-shift:]
    return audio


def decode_video(path: Path, params: DecodeParams | None = None) -> DecodedVideo:
    params = params or DecodeParams()
    path = Path(path)
    with _open(path) as container:
        has_video = bool(container.streams.video)
        has_audio = bool(container.streams.audio)
        declared = float(container.duration) / av.time_base if container.duration else 0.0
    if not has_video and not has_audio:
        raise StageError("no_streams", f"{path.name} has neither a video nor an audio stream")
    chunks: list[FrameChunk] = []
    video_end = 0.0
    if has_video:
        chunks, video_end = _video_chunks(path, params, declared)
    audio = _audio(path, params.audio_rate) if has_audio else np.zeros(0, dtype=np.float32)
    duration = declared or max(video_end, audio.size / params.audio_rate)
    return DecodedVideo(duration_s=duration, audio=audio, sample_rate=params.audio_rate, chunks=chunks)
