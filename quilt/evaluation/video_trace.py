"""What `quilt process` saw in each video, kept next to the pairs: `OUT/videos/<video_id>.json`.

A pair folder says what was paired; it cannot say why a slide got no pair. The trace keeps the
rest: every denoised sentence (medical or not) and every picture chunk (kept or not, or another
video's image), so `quilt eval` can name the cause of each miss and a user can look for
themselves. One file per video, rewritten whole (atomically) when the video is processed again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TRACE_DIR = "videos"


@dataclass(frozen=True)
class TracedSentence:
    start: float
    end: float
    text: str
    medical: bool


@dataclass(frozen=True)
class TracedChunk:
    t_start: float
    t_end: float
    keep: bool
    histo_score: float
    repeat_of: str = ""  # another video's image id, for a picture that video showed first


@dataclass
class VideoTrace:
    video_id: str
    source: str
    sentences: list[TracedSentence] = field(default_factory=list)
    chunks: list[TracedChunk] = field(default_factory=list)


def trace_path(out_dir: Path, video_id: str) -> Path:
    return Path(out_dir) / TRACE_DIR / f"{video_id}.json"


def write_trace(out_dir: Path, trace: VideoTrace) -> Path:
    path = trace_path(out_dir, trace.video_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(asdict(trace), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _trace_from_dict(data: dict[str, Any]) -> VideoTrace:
    return VideoTrace(
        video_id=str(data["video_id"]), source=str(data.get("source", "")),
        sentences=[TracedSentence(float(s["start"]), float(s["end"]), str(s["text"]), bool(s["medical"]))
                   for s in data.get("sentences", [])],
        chunks=[TracedChunk(float(c["t_start"]), float(c["t_end"]), bool(c["keep"]), float(c["histo_score"]),
                            str(c.get("repeat_of", ""))) for c in data.get("chunks", [])])


def read_trace(out_dir: Path, video_id: str) -> VideoTrace | None:
    """The video's trace, or None when there is none (an older folder) or it cannot be read."""
    path = trace_path(out_dir, video_id)
    try:
        return _trace_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
