"""Plain data passed between the pure stages.

The services turn these into protobuf messages on the wire; `quilt process`
passes them directly. Keeping them as dataclasses keeps the stages free of
protobuf and Kafka.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from dataclasses import dataclass, field

import numpy as np


class StageError(Exception):
    """A failure that is the input's fault (bad file, no audio...).

    `reason` is a short machine-readable slug that ends up on the dead-letter
    topic and in `quilt status`; the message is for people.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelUnavailable(Exception):
    """The model server cannot be reached or is not ready; retryable, unlike StageError."""


class SpooledBytes:
    """Bytes kept in a temporary file, removed when the last holder is garbage-collected."""

    def __init__(self, data: bytes) -> None:
        fd, name = tempfile.mkstemp(prefix="quilt-chunk-", suffix=".jpg")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self.path = name
        weakref.finalize(self, _remove_quietly, name)

    def read(self) -> bytes:
        with open(self.path, "rb") as handle:
            return handle.read()


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FrameChunk:
    """A stable stretch of video represented by one image.

    The image is held either as pixels or, after `compact()`, as JPEG bytes: a decoder
    keeps every distinct slide of a lecture until it has merged repeats, and JPEG keeps
    that memory small however long the video is.
    """

    def __init__(self, t_start: float, t_end: float, image: np.ndarray | None = None, sharpness: float = 0.0,
                 phash: str = "", intervals: list[tuple[float, float]] | None = None, jpeg: bytes = b"",
                 spool: SpooledBytes | None = None) -> None:
        if image is None and not jpeg and spool is None:
            raise ValueError("a FrameChunk needs an image or its JPEG bytes")
        self.t_start = t_start
        self.t_end = t_end
        self._image = image
        self._jpeg = jpeg
        self._spool: SpooledBytes | None = spool
        self.sharpness = sharpness
        self.phash = phash  # 16 hex digits, 64-bit perceptual hash
        # Every span the same picture was on screen (a slide shown again later). Empty means just
        # [(t_start, t_end)], so chunks built by older code keep their meaning.
        self.intervals: list[tuple[float, float]] = list(intervals or [])

    @property
    def image(self) -> np.ndarray:
        """HxWx3 uint8 RGB, the representative (median) frame."""
        if self._image is not None:
            return self._image
        from quilt.core.imaging import decode_jpeg

        return decode_jpeg(self.jpeg)

    @image.setter
    def image(self, value: np.ndarray) -> None:
        self._image, self._jpeg, self._spool = value, b"", None

    @property
    def jpeg(self) -> bytes:
        if self._jpeg:
            return self._jpeg
        if self._spool is not None:
            return self._spool.read()
        from quilt.core.imaging import encode_jpeg

        assert self._image is not None
        return encode_jpeg(self._image)

    def compact(self, quality: int = 92, spool: bool = False) -> None:
        """Keep only the JPEG bytes (about 1/20 of the pixels' memory), or only a temporary file
        holding them (`spool`), so an hour of slides costs no memory at all."""
        if self._image is None:
            return
        from quilt.core.imaging import encode_jpeg

        data, self._image = encode_jpeg(self._image, quality), None
        if spool:
            self._spool = SpooledBytes(data)
        else:
            self._jpeg = data

    def take_picture_of(self, other: FrameChunk) -> None:
        """Use another chunk's picture (and its sharpness and hash) for this one."""
        self._image, self._jpeg, self._spool = other._image, other._jpeg, other._spool
        self.sharpness, self.phash = other.sharpness, other.phash

    def with_spans(self, intervals: list[tuple[float, float]]) -> FrameChunk:
        """A new chunk sharing this one's picture (no decoding) with its own list of intervals."""
        return FrameChunk(self.t_start, self.t_end, self._image, self.sharpness, self.phash, intervals,
                          self._jpeg, self._spool)

    @property
    def duration(self) -> float:
        return self.t_end - self.t_start

    def spans(self) -> list[tuple[float, float]]:
        """The intervals, or the single [t_start, t_end] span when none were recorded."""
        return list(self.intervals) or [(self.t_start, self.t_end)]

    def __repr__(self) -> str:
        return (f"FrameChunk({self.t_start:.2f}-{self.t_end:.2f}s, phash={self.phash}, "
                f"intervals={self.intervals}, {'pixels' if self._image is not None else 'jpeg'})")


@dataclass
class DecodedVideo:
    """What the decoder makes of one video file."""

    duration_s: float
    audio: np.ndarray  # float32 mono at `sample_rate`; may be empty (no audio stream)
    sample_rate: int
    chunks: list[FrameChunk]


@dataclass
class VideoFrames:
    """The picture side of a decoded file; the audio is streamed separately (see `AudioWindow`)."""

    duration_s: float
    chunks: list[FrameChunk]
    has_audio: bool
    frames_decoded: int = 0  # frames the codec actually produced (skipped non-reference frames excluded)
    frames_sampled: int = 0  # frames examined by the stability test
    has_video: bool = True  # False: an audio file (an album cover is no video)


@dataclass
class AudioWindow:
    """A contiguous stretch of mono float32 audio starting `t_start` seconds into the video."""

    t_start: float
    samples: np.ndarray


@dataclass
class Word:
    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass
class Segment:
    """One ASR segment, times in seconds from the start of the video."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    cut: bool = False  # its end is a window seam, where its later words were dropped: not where Whisper ended it


@dataclass(frozen=True)
class SoftBreak:
    """A pause inside a sentence where it may really have ended: Whisper put no full stop there.

    Whisper tiny drops the full stop between two sentences now and then, most often when the
    second one starts a new slide; the pause between them is all that is left of the boundary.
    The denoiser cannot tell such a pause from a breath, but the aligner can: a pause that the
    picture changes in is a boundary (see align.py, `split_at_changes`). Each side's text and
    medical flag are worked out by the denoiser, which has the lexicon; the aligner only cuts.
    """

    start: float  # the pause, in video time: the end of the word before it ...
    end: float  # ... and the start of the word after it
    text_offset: int  # where the corrected text splits: text[:offset].rstrip() | text[offset:].lstrip()
    asr_offset: int  # the same in asr_text
    medical_before: bool  # whether the text before the pause, alone, is medical
    medical_after: bool  # and the text after it


@dataclass
class Sentence:
    """A denoised sentence with its time span in the video."""

    start: float
    end: float
    text: str  # corrected text
    asr_text: str  # what Whisper heard
    medical: bool
    corrections: dict[str, str] = field(default_factory=dict)  # ASR span -> replacement (kept for old readers)
    # Score in [0, 1] of each replacement in `corrections`, same keys: how close sound and spelling were
    # (lexicon) or what the LLM claimed; lets a reviewer sort the least certain changes first.
    correction_scores: dict[str, float] = field(default_factory=dict)
    entities: list[tuple[str, str]] = field(default_factory=list)  # (surface text, category), see entities.py
    breaks: list[SoftBreak] = field(default_factory=list)  # unpunctuated pauses, in time order


@dataclass
class ScoredChunk:
    """A frame chunk with the histology classifier's verdict."""

    chunk_id: str
    t_start: float
    t_end: float
    image_ref: str  # object key (services) or local path (process)
    histo_score: float
    keep: bool
    phash: str = ""
    impurity_tags: list[str] = field(default_factory=list)  # see impurity.py; empty for a clean frame
    crop: list[int] = field(default_factory=list)  # [x0, y0, x1, y1] of the field of view; empty = whole frame
    magnification: str = "unknown"  # low | medium | high | unknown, see magnification.py
    # Chunk id of another video's image this one near-duplicates ("" = a new image). Such a chunk is never
    # kept or scored, but it still competes for the speech said over it (see align.py).
    duplicate_of: str = ""
    screen_text: str = ""  # the text OCR read on the frame
    # Another histology picture of a frame (a second panel or micrograph): the frame's chunk id. It does not
    # compete for sentences; it is paired with what the frame won (see align.pairing.align_video).
    region_of: str = ""
