"""Plain data passed between the pure stages.

The services turn these into protobuf messages on the wire; `quilt process`
passes them directly. Keeping them as dataclasses keeps the stages free of
protobuf and Kafka.
"""

from __future__ import annotations

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


@dataclass
class FrameChunk:
    """A stable stretch of video represented by one image."""

    t_start: float
    t_end: float
    image: np.ndarray  # HxWx3 uint8 RGB, the representative (median) frame
    sharpness: float = 0.0
    phash: str = ""  # 16 hex digits, 64-bit perceptual hash

    @property
    def duration(self) -> float:
        return self.t_end - self.t_start


@dataclass
class DecodedVideo:
    """What the decoder makes of one video file."""

    duration_s: float
    audio: np.ndarray  # float32 mono at `sample_rate`; may be empty (no audio stream)
    sample_rate: int
    chunks: list[FrameChunk]


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


@dataclass
class Sentence:
    """A denoised sentence with its time span in the video."""

    start: float
    end: float
    text: str  # corrected text
    asr_text: str  # what Whisper heard
    medical: bool
    corrections: dict[str, str] = field(default_factory=dict)


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
