"""Key frames per nuisance kind: the coverage bookkeeping, the tuning suite's labels, and `quilt bench keyframes`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quilt.evaluation.keyframes import KindCoverage, histology_coverage
from quilt.testing.eval_suite import eval_script, nuisance_labels
from quilt.testing.lecture import LectureTruth, truth_segments

LABELLED: list[tuple[float, float, str | None]] = [
    (0.0, 5.0, None), (5.0, 11.0, "shake"), (11.0, 16.0, "framed"), (16.0, 18.0, "shake"), (18.0, 24.0, "shake")]


def test_coverage_counts_histology_segments_given_a_key_frame_per_kind() -> None:
    spans = [(0.5, 4.5), (5.5, 9.0), (12.0, 13.0), (15.5, 19.0)]  # the last straddles: lands nowhere
    coverage = histology_coverage(spans, LABELLED)
    # The 2 s shake segment is below the 3 s minimum and not counted; the last shake got nothing.
    assert coverage.segments == {"shake": 2, "framed": 1}
    assert coverage.covered == {"shake": 1, "framed": 1}
    assert coverage.share("shake") == 0.5 and coverage.share("framed") == 1.0
    assert coverage.share() == pytest.approx(2 / 3)
    pooled = coverage.add(KindCoverage({"webcam": 2}, {"webcam": 0}))
    assert pooled.total == 5 and pooled.share("webcam") == 0.0 and KindCoverage().share() == 1.0


def test_tuning_suite_labels_follow_its_truth_segments() -> None:
    for seed in range(6):
        script = eval_script(seed * 1000)
        starts, t = [], 0.0
        for spec in script:
            starts.append(t)
            t += spec.seconds
        truth = LectureTruth(segments=truth_segments(script, starts))
        labels = nuisance_labels(script)
        assert len(labels) == len(truth.segments)
        for seg, label in zip(truth.segments, labels, strict=True):
            assert (label is not None) == (seg.still and seg.kind in ("histology", "ihc"))


def test_bench_reports_both_generators_per_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from quilt.cli.main import main

    assert main(["bench", "keyframes", "--generator", "both", "--count", "1", "--seed", "2", "--field-size",
                 "320x180", "--field-fps", "10", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"keyframes: one_keyframe_rate=[0-9.]+ duplicate_fraction=[0-9.]+ in_motion=\d+ "
                        r"still_segments=\d+ lectures=2", lines[-1]), lines[-1]
    kinds = [re.fullmatch(r"keyframes-kind: generator=(\w+) kind=(\w+) segments=(\d+) ours=([0-9.]+) "
                          r"quilt=([0-9.]+)", line) for line in lines if line.startswith("keyframes-kind:")]
    assert all(kinds) and {m.group(1) for m in kinds if m} == {"tuning", "field"}
    field_kinds = {m.group(2) for m in kinds if m and m.group(1) == "field"}
    assert len(field_kinds) >= 3 and field_kinds <= {"shake", "zoom_pan", "framed", "two_panel", "webcam", "letterbox"}
    overall = [line for line in lines if line.startswith("keyframes-histology:")]
    assert [line.split()[1] for line in overall] == ["generator=tuning", "generator=field", "generator=all"]
    for match in kinds:
        assert match and 0.0 <= float(match.group(4)) <= 1.0 and 0.0 <= float(match.group(5)) <= 1.0
