"""The pair record: one shape for the bucket object, the pair topic and `pairs.jsonl`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Present in every record ever written; a record without them is refused.
REQUIRED_FIELDS = (
    "pair_id", "video_id", "source", "image", "t_start", "t_end",
    "text", "asr_text", "histo_score", "models", "created_at",
)
# Quality and Quilt-style metadata, added later: older records read with their defaults.
QUALITY_FIELDS = (
    "image_id", "align_score", "corrections", "entities", "impurity_tags", "crop",
    "magnification", "sub_pathology", "screen_text",
)
PAIR_FIELDS = REQUIRED_FIELDS + QUALITY_FIELDS

MAGNIFICATIONS = ("low", "medium", "high", "unknown")


@dataclass
class PairRecord:
    pair_id: str
    video_id: str
    source: str
    image: str  # object key (bucket) or path relative to pairs.jsonl
    t_start: float
    t_end: float
    text: str
    asr_text: str
    histo_score: float
    models: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    image_id: str = ""  # the key frame's chunk id: several texts of one image share it
    align_score: float = 0.0  # how surely the text was spoken about this image, in [0, 1]
    corrections: dict[str, str] = field(default_factory=dict)  # heard -> written (Quilt's asr_correction_dict)
    entities: list[dict[str, str]] = field(default_factory=list)  # {"text", "category"}
    impurity_tags: list[str] = field(default_factory=list)  # person | ui_chrome | text_overlay | ...
    crop: list[int] = field(default_factory=list)  # [x0, y0, x1, y1] of the field of view; empty = whole frame
    magnification: str = "unknown"  # low | medium | high | unknown
    sub_pathology: list[str] = field(default_factory=list)  # top-3 organ systems, most likely first
    screen_text: str = ""  # the text on screen with the image, read by OCR; "" when none was read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairRecord:
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise ValueError(f"pair record lacks fields: {', '.join(missing)}")
        return cls(**{name: data[name] for name in PAIR_FIELDS if name in data})
