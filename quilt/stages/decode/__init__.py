"""Decode stage: a video file -> its key frames (stable chunks) and its audio, as 16 kHz mono windows.

`decode_lecture` is the stage's one entry point, called by the decoder service and by `quilt process`.
It also settles, through the perceptual-hash index it is given, which key frames another video
already showed (a re-upload, a stock micrograph): such a frame is not stored again but points at the
earlier video's image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from quilt.core import keys
from quilt.core.ids import chunk_id
from quilt.core.types import AudioWindow, FrameChunk, VideoFrames
from quilt.stages.common.media_limits import MediaLimits
from quilt.stages.common.screen_text import FAILED_STATUSES, OcrParams, read_screen_text
from quilt.stages.decode.audio_stream import iter_audio
from quilt.stages.decode.keyframes import AUDIO_RATE, AUDIO_WINDOW_S, DECODER_NAME, decode_frames, require_video
from quilt.stages.decode.params import DecodeParams
from quilt.stages.decode.phash_index import PhashIndex

__all__ = ["AUDIO_RATE", "AUDIO_WINDOW_S", "DECODER_NAME", "DecodeParams", "DecodedLecture", "KeyFrame",
           "OcrParams", "PhashIndex", "decode_lecture"]


@dataclass
class KeyFrame:
    """One stable chunk with its identity: a new image (stored under `image_key`) or another video's repeat."""

    chunk: FrameChunk
    chunk_id: str
    image_key: str  # where the picture lives: this video's frame key, or the earlier video's image key
    duplicate_of: str = ""  # the earlier video's chunk id; "" = a new image
    screen_text: str = ""  # what OCR read on the picture (quilt/stages/common/screen_text.py)
    screen_status: str = "off"  # how that read went: ok | empty | off | unavailable | timeout | failed

    @property
    def image_id(self) -> str:
        """The id pairs on this picture are made under: the earlier video's chunk for a repeat."""
        return self.duplicate_of or self.chunk_id


@dataclass
class DecodedLecture:
    """The picture side of a decoded video, and a way to stream its audio."""

    frames: VideoFrames
    key_frames: list[KeyFrame]
    path: Path

    @property
    def repeats(self) -> int:
        return sum(bool(k.duplicate_of) for k in self.key_frames)

    @property
    def ocr_failures(self) -> int:
        """Key frames whose OCR failed, timed out or found no tesseract (their screen text is empty)."""
        return sum(k.screen_status in FAILED_STATUSES for k in self.key_frames)

    def audio_windows(self) -> Iterator[AudioWindow]:
        """Contiguous windows of AUDIO_WINDOW_S seconds at AUDIO_RATE, decoded as they are read."""
        return iter_audio(self.path, AUDIO_RATE, AUDIO_WINDOW_S)


def decode_lecture(path: Path, video_id: str, source: str, index: PhashIndex,
                   put_image: Callable[[str, bytes], None] | None = None,
                   params: DecodeParams | None = None, limits: MediaLimits | None = None,
                   ocr: OcrParams | None = None) -> DecodedLecture:
    """Key frames of `path`, each new one stored with `put_image(key, jpeg)` and added to `index`.

    Each key frame's text is read with OCR (`ocr`; None: the defaults). An OCR that is missing, fails
    or times out leaves that frame's `screen_text` empty and says why in `screen_status`; it never
    fails the video.

    A frame near-duplicating an image of another video in `index` is neither stored nor indexed again
    (the index keeps one entry per distinct picture): it carries that video's chunk id and image key.
    StageError for unusable input, or for a file with audio but no picture (`source` names it).
    """
    frames = decode_frames(path, params, limits)
    require_video(frames, source)
    key_frames = []
    for chunk in frames.chunks:
        cid = chunk_id(video_id, chunk.t_start, chunk.t_end)
        screen = read_screen_text(chunk.image, ocr or OcrParams())
        earlier = index.find(chunk.phash, video_id=video_id)
        if earlier is not None:
            key_frames.append(KeyFrame(chunk, cid, earlier.image_key, duplicate_of=earlier.chunk_id,
                                       screen_text=screen.text, screen_status=screen.status))
            continue
        image_key = keys.frame_key(video_id, cid)
        if put_image is not None:
            put_image(image_key, chunk.jpeg)
        index.add(chunk.phash, video_id, cid, image_key)
        key_frames.append(KeyFrame(chunk, cid, image_key, screen_text=screen.text, screen_status=screen.status))
    return DecodedLecture(frames=frames, key_frames=key_frames, path=Path(path))
