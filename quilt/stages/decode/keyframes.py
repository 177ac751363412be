"""Video file -> stable frame chunks (Quilt's frame-extraction step) and streamed 16 kHz mono audio.

A "stable chunk" is a run of sampled frames that each look like their predecessor and
like the run's first frame (robust SSIM on grey thumbnails, see stability.py), lasting at
least `min_duration_s`; a shaking, creeping or slowly zooming camera is compared after its
motion is undone (motion.py). Its image is the pixel-wise median of a few evenly spaced
full-resolution frames (moved into register first when the camera shook, register.py; the
sharpest frame for a zoom), which removes a moving mouse pointer and codec noise without
blurring the slide. A slide shown again later, or one field split by a brief occlusion, is
merged into one chunk (dedup.py).

`decode_frames` + `iter_audio` are the streaming API; `decode_video` is the old
all-in-memory result, kept for small inputs and tests.

Inputs, and what becomes of them (see media_limits.py for the limits):
* empty file -> StageError("empty_file"); text or markup (an HTML error page) -> "not_a_video";
  unreadable, truncated or garbage -> "corrupt_input"; neither video nor audio -> "no_streams";
* longer, bigger, larger-framed or faster than `MediaLimits` -> "over_limit", decided from the
  header before any frame is decoded, and checked again on the decoded frames (a header can lie);
* audio only, an album cover included -> no frames (`has_video` False); the pipeline refuses it
  with `require_video` ("no_video": with no picture there is nothing to pair);
* video without speech -> frames and silent (or no) audio; it finishes with no pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from quilt.core.types import DecodedVideo, FrameChunk, StageError, VideoFrames
from quilt.stages.common.media_io import corrupt, open_media
from quilt.stages.common.media_limits import (
    MediaLimits,
    check_container,
    duration_over,
    main_video_stream,
    open_checked,
    pixels_over,
)
from quilt.stages.decode.audio_stream import iter_audio
from quilt.stages.decode.dedup import merge_repeats
from quilt.stages.decode.params import DecodeParams
from quilt.stages.decode.stability import ChunkFinder
from quilt.stages.decode.stability import Run as _Run

__all__ = ["DecodeParams", "MediaLimits", "decode_frames", "decode_video", "iter_audio", "_Run"]

_EPS = 1e-6

# v3: stability and the chunk picture tolerate camera shake, slow drift and slow zoom.
# v4: a slow drift across one field (every piece 2.25 s or longer) is one chunk by default.
DECODER_NAME = "pyav-stable-chunks-v4"
AUDIO_RATE = 16000
AUDIO_WINDOW_S = 30.0  # audio travels between stages in windows of this length


def _rotate(rgb: np.ndarray, rotation: float) -> np.ndarray:
    """Apply display-matrix rotation (degrees counter-clockwise, as FFmpeg reports it)."""
    quarter = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=quarter)) if quarter else rgb


def _thumb_shape(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = longest / max(width, height, 1)
    return max(16, int(round(width * scale))), max(16, int(round(height * scale)))


def _thumb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    # swscale shrinks straight to grey, so no full-size RGB copy is made for frames we do not keep.
    grey = frame.reformat(width=size[0], height=size[1], format="gray")
    return grey.to_ndarray().astype(np.float32)


class _LazyRGB:
    """A decoded frame kept as the codec gave it (YUV, half the bytes) until its RGB is needed."""

    def __init__(self, frame: av.VideoFrame) -> None:
        self.frame = frame
        self.rotation = float(getattr(frame, "rotation", 0) or 0)
        quarter = int(round(self.rotation / 90.0)) % 4
        self.shape = (frame.width, frame.height, 3) if quarter % 2 else (frame.height, frame.width, 3)

    def __call__(self) -> np.ndarray:
        return _rotate(self.frame.to_ndarray(format="rgb24"), self.rotation)


def _rgb_getter(frame: av.VideoFrame) -> Callable[[], np.ndarray]:
    return _LazyRGB(frame)


class _SkipControl:
    """Skips non-reference frames (the codec never reconstructs them) while enough frames remain.

    libx264's default settings emit B-frames; dropping the non-reference ones roughly halves
    decoding work. If the surviving frames ever come further apart than half a sampling step
    (few B-frames, low frame rate, VFR), skipping is switched off for the rest of the file.
    """

    def __init__(self, stream: av.video.stream.VideoStream, params: DecodeParams) -> None:
        self.stream = stream
        self.max_gap = 0.5 / params.sample_fps
        rate = float(stream.average_rate or 0)
        self.active = rate >= params.skip_nonref_min_ratio * params.sample_fps
        if self.active:
            stream.codec_context.skip_frame = "NONREF"
        self.last: float | None = None

    def seen(self, t: float) -> None:
        if self.active and self.last is not None and t - self.last > self.max_gap:
            self.stream.codec_context.skip_frame = "DEFAULT"
            self.active = False
        self.last = t


def _scan_video(path: Path, params: DecodeParams, declared: float,
                limits: MediaLimits) -> tuple[list[FrameChunk], float, int, int]:
    """Returns the chunks, the time just past the last decoded frame, frames decoded and frames sampled."""
    finder = ChunkFinder(params)
    first_t: float | None = None
    shape = (0, 0)
    step = 1.0 / params.sample_fps
    next_sample = -math.inf
    last_t = 0.0
    seen = sampled = 0
    with open_media(path) as container:
        stream = main_video_stream(container)
        if stream is None:  # decode_frames scans only files that have one
            raise StageError("no_streams", f"{path.name} has no video stream")
        stream.thread_type = "AUTO"
        skip = _SkipControl(stream, params)
        size: tuple[int, int] | None = None
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:  # no timestamps at all: fall back to the nominal rate
                    t = seen / float(stream.average_rate or 25)
                seen += 1
                # The header passed check_container, but it may understate the length or frame size.
                first_t = t if first_t is None else first_t
                if (err := duration_over(path.name, t - first_t, limits)) is not None:
                    raise err
                if (frame.width, frame.height) != shape:
                    shape = (frame.width, frame.height)
                    if (err := pixels_over(path.name, frame.width, frame.height, limits)) is not None:
                        raise err
                skip.seen(t)
                last_t = max(last_t, t)
                if t + _EPS < next_sample:
                    continue
                next_sample = (math.floor(t / step + _EPS) + 1) * step
                sampled += 1
                size = _thumb_shape(frame.width, frame.height, params.thumb_size)
                finder.push(t, _thumb(frame, size), _rgb_getter(frame))
        except av.FFmpegError as err:
            raise corrupt(path, err) from err
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
    return finder.finish(end, declared), end, seen, sampled


def decode_frames(path: Path, params: DecodeParams | None = None, limits: MediaLimits | None = None) -> VideoFrames:
    """Stable image chunks of a video file (no audio decoding). Raises StageError for unusable input.

    `limits` (default MediaLimits()) are checked from the header before anything is decoded.
    """
    params = params or DecodeParams()
    limits = limits or MediaLimits()
    path = Path(path)
    with open_checked(path, limits) as container:
        check_container(container, path, limits)
        # An audio file's cover picture is no video: such a file is audio only.
        has_video = main_video_stream(container) is not None
        has_audio = bool(container.streams.audio)
        declared = float(container.duration) / av.time_base if container.duration else 0.0
        if not declared and has_audio:
            audio = container.streams.audio[0]
            if audio.duration and audio.time_base:
                declared = float(audio.duration * audio.time_base)
    if not has_video and not has_audio:
        raise StageError("no_streams", f"{path.name} has neither a video nor an audio stream")
    if not has_video:
        return VideoFrames(duration_s=declared, chunks=[], has_audio=True, has_video=False)
    chunks, video_end, seen, sampled = _scan_video(path, params, declared, limits)
    return VideoFrames(duration_s=declared or video_end, chunks=merge_repeats(chunks, params),
                       has_audio=has_audio, frames_decoded=seen, frames_sampled=sampled)


def require_video(frames: VideoFrames, name: str) -> None:
    """The pipeline's rule for an audio file: a clear error, since with no picture there is nothing to pair."""
    if not frames.has_video:
        raise StageError("no_video", f"{name} has audio but no video stream: there is no picture to pair its "
                         "narration with")


def decode_video(path: Path, params: DecodeParams | None = None, limits: MediaLimits | None = None) -> DecodedVideo:
    """decode_frames plus the whole audio track in memory: for small inputs and tests only."""
    params = params or DecodeParams()
    frames = decode_frames(path, params, limits)
    windows = [w.samples for w in iter_audio(Path(path), params.audio_rate)] if frames.has_audio else []
    audio = np.concatenate(windows) if windows else np.zeros(0, dtype=np.float32)
    duration = frames.duration_s or audio.size / params.audio_rate
    return DecodedVideo(duration_s=duration, audio=audio, sample_rate=params.audio_rate, chunks=frames.chunks)
