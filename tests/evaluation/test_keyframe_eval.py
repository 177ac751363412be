"""keyframe_eval.evaluate: its bookkeeping on hand-made chunks, and the decoder on generated lectures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quilt.core.types import FrameChunk
from quilt.evaluation.keyframes import KeyframeScores, evaluate
from quilt.stages.decode.keyframes import decode_frames
from quilt.testing.eval_suite import make_eval_lectures

SEGMENTS: list[tuple[float, float, str, bool, int | None]] = [
    (0.0, 5.0, "histology", True, None), (5.0, 10.0, "pan", False, None), (10.0, 15.0, "ihc", True, None),
    (15.0, 20.0, "histology", True, 0), (20.0, 22.0, "text", True, None)]


def _chunk(*spans: tuple[float, float]) -> FrameChunk:
    return FrameChunk(spans[0][0], spans[0][1], np.zeros((2, 2, 3), np.uint8), intervals=list(spans))


def test_perfect_answer_with_merged_repeat() -> None:
    scores = evaluate([_chunk((0.2, 5.0), (15.0, 20.0)), _chunk((10.0, 15.0))], SEGMENTS)
    assert (scores.still_segments, scores.one_keyframe, scores.duplicates, scores.in_motion) == (3, 3, 0, 0)
    assert scores.one_keyframe_rate == 1.0 and scores.duplicate_fraction == 0.0


def test_unmerged_repeat_is_a_duplicate_and_pan_keyframe_counted() -> None:
    chunks = [_chunk((0.0, 5.0)), _chunk((6.0, 9.5)), _chunk((10.0, 15.0)), _chunk((15.0, 20.0))]
    scores = evaluate(chunks, SEGMENTS)
    assert scores.duplicates == 1 and scores.in_motion == 1 and scores.one_keyframe == 3
    assert scores.duplicate_fraction == 0.25


def test_split_still_and_straddling_chunk() -> None:
    chunks = [_chunk((0.0, 2.5)), _chunk((2.5, 5.0)), _chunk((18.0, 23.0))]
    scores = evaluate(chunks, SEGMENTS)
    assert scores.missed == [0, 2, 3] and scores.duplicates == 1 and scores.unmatched == 1
    pooled = scores.add(KeyframeScores(1, 1, 1, 0, 0, 0))
    assert pooled.still_segments == 4 and pooled.one_keyframe == 1


def test_decoder_on_generated_eval_lectures(tmp_path: Path) -> None:
    total = KeyframeScores(0, 0, 0, 0, 0, 0)
    for path, segments in make_eval_lectures(tmp_path, count=2, seed=0):
        total = total.add(evaluate(decode_frames(path).chunks, segments))
    assert total.still_segments >= 15
    assert total.one_keyframe_rate >= 0.95
    assert total.duplicate_fraction <= 0.05
    assert total.in_motion == 0


def test_bench_keyframes_command_reports_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import re

    from quilt.cli.main import main

    assert main(["bench", "keyframes", "--count", "1", "--seed", "3", "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(r"keyframes: one_keyframe_rate=([0-9.]+) duplicate_fraction=([0-9.]+) in_motion=(\d+) "
                         r"still_segments=(\d+) lectures=1", last)
    assert match, last
    assert float(match.group(1)) >= 0.9 and int(match.group(3)) == 0 and int(match.group(4)) > 0
