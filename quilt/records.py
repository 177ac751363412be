"""The pair record: one shape for the bucket object, the pair topic and `pairs.jsonl`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PAIR_FIELDS = (
    "pair_id", "video_id", "source", "image", "t_start", "t_end",
    "text", "asr_text", "histo_score", "models", "created_at",
)


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairRecord:
        missing = [name for name in PAIR_FIELDS if name not in data]
        if missing:
            raise ValueError(f"pair record lacks fields: {', '.join(missing)}")
        return cls(**{name: data[name] for name in PAIR_FIELDS})
