"""The decoder benchmark: Quilt's reference method, the plain full decode and `quilt bench decode`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from quilt.cli.bench_decode import summarize
from quilt.cli.main import main
from quilt.evaluation.bench.full_decode import full_decode
from quilt.evaluation.bench.quilt_reference import reference_chunks
from quilt.evaluation.bench.runner import RunResult
from quilt.testing.lecture import SlideSpec, make_lecture

LINE = re.compile(r"^decode: realtime=[0-9.]+ vs_quilt=[0-9.]+ vs_full_decode=[0-9.]+ peak_rss_mb=[0-9.]+$")


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s, 320x240, 10 fps: three 4 s slides (no pointer, so every slide is one stable run)."""
    path = tmp_path_factory.mktemp("bench") / "tiny.mp4"
    slides = [SlideSpec("histology", 4.0, "", seed=1), SlideSpec("ihc", 4.0, "", seed=2),
              SlideSpec("text", 4.0, "", title="Kidney", lines=("Glomerulus",))]
    make_lecture(path, slides)  # silent audio track: the project decoder's audio path still runs
    return path


def test_reference_finds_each_slide(lecture: Path) -> None:
    result = reference_chunks(lecture)
    assert result.frames_decoded == 120
    assert result.duration_s == pytest.approx(12.0)
    bounds = [t for c in result.chunks for t in (c.t_start, c.t_end)]
    assert bounds == pytest.approx([0.0, 4.0, 4.0, 8.0, 8.0, 12.0], abs=0.21)
    assert all(c.image.shape == (240, 320, 3) for c in result.chunks)


def test_reference_drops_short_runs(lecture: Path) -> None:
    from quilt.evaluation.bench.quilt_reference import ReferenceParams

    assert reference_chunks(lecture, ReferenceParams(min_duration_s=4.5)).chunks == []


def test_full_decode_counts_every_frame(lecture: Path) -> None:
    result = full_decode(lecture)
    assert result.frames_decoded == 120
    assert result.duration_s == pytest.approx(12.0, abs=0.2)


def test_summary_ratios() -> None:
    results = [RunResult("ours", 2.0, 100.0, 10, 3, 50.0), RunResult("full_decode", 3.0, 100.0, 10, None, 40.0),
               RunResult("quilt", 8.0, 100.0, 10, 4, 90.0), RunResult("ours", 2.0, 60.0, 10, 3, 70.0),
               RunResult("full_decode", 1.0, 60.0, 10, None, 40.0), RunResult("quilt", 4.0, 60.0, 10, 4, 90.0)]
    summary = summarize(results)
    assert (summary.realtime, summary.vs_quilt, summary.vs_full_decode, summary.peak_rss_mb) == (40.0, 3.0, 1.0, 70.0)
    assert LINE.match(summary.line())


def test_cli_bench_decode(lecture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "decode.json"
    assert main(["bench", "decode", str(lecture), "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    assert LINE.match(out.strip().splitlines()[-1])
    report = json.loads(report_path.read_text())
    runs = {r["method"]: r for r in report["files"][str(lecture)]}
    assert set(runs) == {"ours", "full_decode", "quilt"}
    assert runs["full_decode"]["frames_decoded"] == runs["quilt"]["frames_decoded"] == 120
    assert runs["ours"]["chunks"] == runs["quilt"]["chunks"] == 3
    assert all(r["peak_rss_mib"] > 10 and r["wall_s"] > 0 for r in runs.values())


def test_cli_skip_quilt_one_core(lecture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "decode", str(lecture), "--skip-quilt", "--one-core"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert LINE.match(last) and " vs_quilt=0.00 " in last


def test_cli_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "decode"]) == 2
