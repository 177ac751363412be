"""Per-stage counts and realtime factor from status documents (the `stages` table of `quilt status`)."""

from __future__ import annotations

from datetime import UTC, datetime

from quilt.ops.stage_throughput import stage_throughput


def test_counts_and_realtime_come_from_the_status_documents() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    videos = {
        "v-1": {"decoder": {"state": "done", "seconds": 2.0, "updated_at": "2026-11-25T11:58:00Z",
                            "detail": {"duration_s": 40.0}},
                "asr": {"state": "done", "seconds": 4.0, "updated_at": "2026-11-25T10:00:00Z"}},
        "v-2": {"decoder": {"state": "done", "seconds": 6.0, "updated_at": "2026-11-25T11:59:30Z",
                            "detail": {"duration_s": 20.0}},
                "asr": {"state": "running", "seconds": 0.0, "updated_at": "2026-11-25T11:59:59Z"}},
        "v-3": {"decoder": {"state": "failed", "reason": "corrupt_input", "seconds": 0.1, "updated_at": "x"}},
    }
    decoder, asr, aligner = stage_throughput(videos, ("decoder", "asr", "aligner"), now, window_s=600)
    assert (decoder.done, decoder.running, decoder.failed, decoder.recent) == (2, 0, 1, 2)
    assert decoder.realtime == (40.0 + 20.0) / (2.0 + 6.0)
    assert (asr.done, asr.running, asr.recent) == (1, 1, 0)  # done two hours ago: not in the window
    assert asr.realtime == 40.0 / 4.0
    assert (aligner.done, aligner.realtime) == (0, 0.0)
