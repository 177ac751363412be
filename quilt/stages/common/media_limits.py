"""What a media file may be before the decoder spends time on it: size, length, frame size and rate.

`check_media` reads only the container's header (no frame is decoded) and raises
StageError("over_limit") naming the setting to change, so a 10-hour recording or an 8K/120 fps
screen capture is refused before it costs hours of decoding. The limits are configurable; the
defaults let a 4-hour lecture in 4K at 60 fps through (the decoder keeps only grey thumbnails
and a few full-size frames per stable run, so memory does not grow with the frame count).
A limit of 0 (or less) means "no limit".

It also tells a file that is not media at all (an HTML error page, a JSON reply, plain text)
from a broken video, so those get StageError("not_a_video") rather than "corrupt_input".
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import av

from quilt.core.types import StageError
from quilt.stages.common.media_io import open_media

OVER_LIMIT = "over_limit"
NOT_A_VIDEO = "not_a_video"
DEFAULT_MAX_BYTES = 8 * 1024**3  # a 720p lecture of several hours stays well under this
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class MediaLimits:
    """Upper bounds checked from the container's metadata (field names are the settings' names)."""

    max_duration_s: float = 4 * 3600.0
    max_pixels: int = 3840 * 2160  # width x height of one frame: 4K UHD passes
    max_fps: float = 60.0  # 59.94 and 60 fps pass
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        for name in ("max_duration_s", "max_pixels", "max_fps", "max_bytes"):
            value = getattr(self, name)
            if value != value:  # NaN would silently disable the check
                raise ValueError(f"{name} is not a number")


def _hms(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def over_limit(name: str, what: str, limit: str, setting: str, value: float) -> StageError:
    shown = int(value) if float(value).is_integer() else value
    return StageError(OVER_LIMIT, f"{name}: {what} exceeds the limit {limit} (setting {setting} = {shown})")


def duration_over(name: str, seconds: float, limits: MediaLimits) -> StageError | None:
    if limits.max_duration_s > 0 and seconds > limits.max_duration_s:
        return over_limit(name, f"duration {_hms(seconds)}", _hms(limits.max_duration_s), "max_duration_s",
                          limits.max_duration_s)
    return None


def pixels_over(name: str, width: int, height: int, limits: MediaLimits) -> StageError | None:
    if limits.max_pixels > 0 and width * height > limits.max_pixels:
        return over_limit(name, f"frame size {width}x{height} ({width * height / 1e6:.1f} megapixels)",
                          f"{limits.max_pixels / 1e6:.1f} megapixels", "max_pixels", limits.max_pixels)
    return None


def _declared_duration(container: av.container.InputContainer) -> float:
    if container.duration:
        return float(container.duration) / av.time_base
    spans = [float(s.duration * s.time_base) for s in container.streams if s.duration and s.time_base]
    return max(spans, default=0.0)


def is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    """The picture an audio file carries (an album cover), not a video."""
    return bool(stream.disposition & (av.stream.Disposition.attached_pic | av.stream.Disposition.still_image))


def main_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The video stream the decoder reads: the first one that is not cover art (None for audio only)."""
    return next((s for s in container.streams.video if not is_cover_art(s)), None)


def check_container(container: av.container.InputContainer, path: Path, limits: MediaLimits) -> None:
    """The limits, from an open container's header; raises StageError("over_limit")."""
    name = Path(path).name
    if (err := duration_over(name, _declared_duration(container), limits)) is not None:
        raise err
    stream = main_video_stream(container)
    if stream is None:
        return  # audio only (an album cover is one picture, whatever its size and made-up rate)
    width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    if (err := pixels_over(name, width, height, limits)) is not None:
        raise err
    # average_rate is frames over duration, sane for variable frame rates; the guessed and base rates can be
    # the time base (1000 or 90000 "fps"), so without an average the rate is not judged.
    fps = float(stream.average_rate) if stream.average_rate else 0.0
    if limits.max_fps > 0 and fps > limits.max_fps + 0.01:
        raise over_limit(name, f"frame rate {fps:.2f} fps", f"{limits.max_fps:g} fps", "max_fps", limits.max_fps)


def check_size(path: Path, limits: MediaLimits) -> int:
    """The file's size in bytes; StageError("empty_file") or ("over_limit") when it is 0 or too big."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        return -1  # missing: opening it reports that
    if size == 0:
        raise StageError("empty_file", f"{path.name} is empty (0 bytes)")
    if limits.max_bytes > 0 and size > limits.max_bytes:
        raise over_limit(path.name, f"size {_bytes(size)}", _bytes(limits.max_bytes), "max_bytes", limits.max_bytes)
    return size


def sniff_non_video(head: bytes) -> str | None:
    """What the first bytes of a file are when they are plainly not media ("an HTML page"...), else None.

    Only positive evidence counts: markup, JSON, or text (valid UTF-8 without NUL or other control
    bytes). Every container format the decoder reads has binary bytes in its first few; an unknown
    binary file is left to the decoder, which reports it as corrupt.
    """
    sample = head[:SNIFF_BYTES]
    if not sample:
        return None
    if b"\x00" in sample:
        return None
    try:
        text = codecs.getincrementaldecoder("utf-8")(errors="strict").decode(sample, final=False)
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in stripped[:1024]:
        return "an HTML page"
    if stripped.startswith("<?xml") or stripped.startswith("<"):
        return "an XML/markup document"
    if stripped.startswith(("{", "[")):
        return "a JSON document"
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f") + text.count("\x7f")
    if controls == 0 and text.strip():
        return "a text file"
    return None


def non_video_kind(path: Path) -> str | None:
    """sniff_non_video of a file's first bytes (None if it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return sniff_non_video(handle.read(SNIFF_BYTES))
    except OSError:
        return None


def open_checked(path: Path, limits: MediaLimits | None = None) -> av.container.InputContainer:
    """open_media after the size limits, turning "cannot open" into "not_a_video" for text and markup."""
    path = Path(path)
    check_size(path, limits or MediaLimits())
    try:
        return open_media(path)
    except StageError as err:
        kind = non_video_kind(path)
        if kind is not None:
            raise StageError(NOT_A_VIDEO, f"{path.name} is not a video: it is {kind}") from err
        raise


def check_media(path: Path, limits: MediaLimits | None = None) -> None:
    """All the limits from the file's size and header, without decoding a frame.

    Raises StageError: "empty_file", "over_limit" (naming the setting), "not_a_video" (text or
    markup) or "corrupt_input" (cannot be opened).
    """
    limits = limits or MediaLimits()
    with open_checked(path, limits) as container:
        check_container(container, path, limits)
