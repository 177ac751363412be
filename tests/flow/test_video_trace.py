"""The per-video trace `quilt process` leaves next to the pairs."""

from __future__ import annotations

from pathlib import Path

from quilt.evaluation.video_trace import TracedChunk, TracedSentence, VideoTrace, read_trace, trace_path, write_trace


def test_a_trace_reads_back_and_a_missing_or_broken_one_is_none(tmp_path: Path) -> None:
    trace = VideoTrace("v-1", "/videos/a.mp4", [TracedSentence(0.5, 3.25, "The bile duct.", True)],
                       [TracedChunk(0.0, 5.0, True, 0.97), TracedChunk(5.0, 9.0, False, 0.5, repeat_of="v-0-c1")])
    path = write_trace(tmp_path, trace)
    assert path == trace_path(tmp_path, "v-1") and not list(path.parent.glob("*.part"))
    assert read_trace(tmp_path, "v-1") == trace
    write_trace(tmp_path, VideoTrace("v-1", "/videos/a.mp4"))  # processed again: replaced whole
    assert read_trace(tmp_path, "v-1") == VideoTrace("v-1", "/videos/a.mp4")
    assert read_trace(tmp_path, "v-2") is None
    path.write_text("{not json")
    assert read_trace(tmp_path, "v-1") is None
