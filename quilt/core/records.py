"""The pair record: one shape for the bucket object, the pair topic and `pairs.jsonl`."""

from __future__ import annotations

import math
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
        """The record of a parsed JSON object; ValueError for a missing field or one of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("a pair record is a JSON object")
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise ValueError(f"pair record lacks fields: {', '.join(missing)}")
        problem = field_problem(data)
        if problem:
            raise ValueError(f"pair record {str(data.get('pair_id'))[:40]!r}: {problem}")
        return cls(**{name: data[name] for name in PAIR_FIELDS if name in data})


# The type of each field, for the checks below and for the Parquet schema (adapters/writers.py).
STRING_FIELDS = ("pair_id", "video_id", "source", "image", "text", "asr_text", "created_at", "image_id",
                 "magnification", "screen_text")
NUMBER_FIELDS = ("t_start", "t_end", "histo_score", "align_score")
STRING_LIST_FIELDS = ("impurity_tags", "sub_pathology")
STRING_MAP_FIELDS = ("models", "corrections")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def field_problem(data: dict[str, Any]) -> str:
    """The first field of a record that does not have its type ("" when all do): a record is data from
    the outside (a bucket object, a topic message, a line of a file), and readers must not crash on it."""
    for name in STRING_FIELDS:
        if name in data and not isinstance(data[name], str):
            return f"{name} must be a string, not {type(data[name]).__name__}"
    for name in NUMBER_FIELDS:
        if name in data and not _number(data[name]):
            return f"{name} must be a finite number"
    for name in STRING_LIST_FIELDS:
        if name in data and not _strings(data[name]):
            return f"{name} must be a list of strings"
    for name in STRING_MAP_FIELDS:
        if name in data and not _string_map(data[name]):
            return f"{name} must map strings to strings"
    if "entities" in data and not (isinstance(data["entities"], list)
                                   and all(_string_map(e) for e in data["entities"])):
        return "entities must be a list of objects of strings"
    crop = data.get("crop", [])
    if not (isinstance(crop, list) and len(crop) in (0, 4) and all(isinstance(v, int) and not isinstance(v, bool)
                                                                     for v in crop)):
        return "crop must be [] or four integers"
    return ""
