"""A tiny run of the Whisper-through-Triton throughput bench."""

from __future__ import annotations

from pathlib import Path

import pytest

from quilt.evaluation.bench.asr_throughput import AsrConfig, patch_config, run_asr_bench, summary_line
from quilt.stack.triton import MODEL_REPOSITORY


def test_patch_config() -> None:
    text = (MODEL_REPOSITORY / "whisper" / "config.pbtxt").read_text()
    patched = patch_config(text, AsrConfig("x", instances=3, cpu_threads=1, dynamic_batching=True))
    assert "count: 3 }" in patched and 'key: "cpu_threads" value: { string_value: "1" }' in patched
    assert "max_batch_size: 4" in patched and "dynamic_batching {" in patched
    assert "allow_ragged_batch: true" in patched
    plain = patch_config(text, AsrConfig("y", instances=1, cpu_threads=2))
    assert "count: 1 }" in plain and "dynamic_batching {" not in plain.replace(text, "")


@pytest.mark.integration
def test_tiny_bench_run(tmp_path: Path) -> None:
    rows = run_asr_bench((AsrConfig("1x2threads+batching", dynamic_batching=True),), (1,), requests=2,
                         clip_s=4.0, work_dir=tmp_path)
    assert len(rows) == 1 and rows[0].requests == 2
    assert rows[0].audio_s == pytest.approx(8.0, abs=0.2)
    assert rows[0].realtime > 0.5
    line = summary_line(rows)
    assert line.startswith("asr: realtime_1=") and "best_config=1x2threads+batching@c1" in line
