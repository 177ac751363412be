"""Capacity planning (quilt.ops.capacity) and `quilt bench scale` (quilt/cli/bench_scale.py)."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pytest

from quilt.cli import bench_scale
from quilt.ops.capacity import (
    CapacityError,
    ScalingCheck,
    StageCost,
    costs_from_steps,
    parse_gpu_realtime,
    plan,
)
from quilt.testing.lecture import SlideSpec, make_lecture

DAY = 86400.0
LINE = re.compile(r"^scale: hours_per_day=(?P<h>[0-9.e+]+) bottleneck=(?P<b>[a-z_]+) "
                  r"replicas_total=(?P<r>[0-9]+) gpus=(?P<g>[0-9]+) one_vs_two_workers=(?P<s>[0-9]+\.[0-9]{2})$")


def costs(**per_stage: float) -> list[StageCost]:
    return [StageCost(stage, cost) for stage, cost in per_stage.items()]


def test_replicas_are_demand_over_the_daily_budget_rounded_up() -> None:
    # 24 h/day of video = 86400 video s/day. At cost 0.1 the demand is 8640 s: 0.1 day of one core,
    # so at 70% utilisation 0.1/0.7 = 0.14 replicas -> 1. At cost 1.5: 1.5/0.7 = 2.14 -> 3.
    p = plan(costs(decoder=0.1, asr=1.5, aligner=0.0), hours_per_day=24, utilisation=0.7)
    assert [s.replicas for s in p.stages] == [1, 3, 1]  # a free stage still runs one replica
    asr = p.stage("asr")
    assert asr.demand_s == pytest.approx(1.5 * DAY)
    assert asr.exact_replicas == pytest.approx(1.5 / 0.7)
    assert p.replicas_total == 5 and p.cores_total == 5 and p.gpus_total == 0
    # Exactly 2.0 replicas' worth stays 2, float noise or not.
    assert plan(costs(decoder=0.7), hours_per_day=48, utilisation=0.7).stage("decoder").replicas == 2
    # At full utilisation 1.5 replicas' worth -> 2.
    assert plan(costs(asr=1.5), hours_per_day=24, utilisation=1.0).stage("asr").replicas == 2


def test_replicas_scale_with_hours_and_cores_with_replicas() -> None:
    small = plan(costs(asr=0.05), hours_per_day=100)
    big = plan(costs(asr=0.05), hours_per_day=10_000)
    # 10,000 h/day * 3600 * 0.05 / (86400 * 0.7) = 29.76 -> 30
    assert (small.stage("asr").replicas, big.stage("asr").replicas) == (1, 30)
    two_core = plan([StageCost("asr", 0.05, cores=2)], hours_per_day=10_000)
    assert two_core.cores_total == 60


def test_bottleneck_is_the_largest_demand_and_the_cluster_saturates_where_slack_is_least() -> None:
    p = plan(costs(fetcher=0.001, decoder=0.2, asr=0.9, histo_filter=0.3), hours_per_day=24, utilisation=0.5)
    assert p.bottleneck == "asr"
    # Replicas: decoder 0.4 -> 1, asr 1.8 -> 2, histo 0.6 -> 1. Capacity (h/day at 50%): decoder 24/0.4 = 60,
    # asr 24 * 2/1.8 = 26.7, histo 24/0.6 = 40: asr is also the first to saturate.
    assert p.saturates_first == "asr"
    assert p.max_hours_per_day == pytest.approx(24 * 2 / 1.8)
    # Rounding can make a smaller stage the first to fill up: asr 1.05 -> 2 replicas (lots of slack),
    # decoder 0.95 -> 1 replica (almost full).
    q = plan(costs(decoder=0.95 * 0.7, asr=1.05 * 0.7), hours_per_day=24, utilisation=0.7)
    assert (q.bottleneck, q.saturates_first) == ("asr", "decoder")
    assert q.max_hours_per_day == pytest.approx(24 / 0.95)


def test_gpu_stage_without_a_figure_is_sized_on_cpu_and_says_so() -> None:
    p = plan(costs(decoder=0.01, asr=0.05, histo_filter=0.005), hours_per_day=1000)
    asr = p.stage("asr")
    assert (asr.device, asr.gpus, asr.gpu_measured, asr.gpu_capable) == ("cpu", 0, False, True)
    assert asr.gpu_note == "not measured" and p.stage("decoder").gpu_note == "-"
    assert asr.replicas == math.ceil(1000 * 3600 * 0.05 / (DAY * 0.7))
    assert p.gpu_not_measured == ["asr", "histo_filter"] and p.gpus_total == 0


def test_gpu_stage_with_a_realtime_factor_is_sized_on_gpus() -> None:
    # 1000 h/day on GPUs at 150x realtime: 3.6e6 / 150 = 24000 GPU-s/day; / (86400 * 0.7) = 0.40 -> 1 GPU.
    # 20,000 h/day: 7.94 -> 8 GPUs.
    p = plan(costs(decoder=0.005, asr=0.05), hours_per_day=20_000, gpu_realtime={"asr": 150})
    asr = p.stage("asr")
    assert (asr.device, asr.gpu_measured, asr.gpus, asr.replicas, asr.cores) == ("gpu", True, 8, 8, 0)
    assert asr.cost == pytest.approx(1 / 150) and "given" in asr.source
    assert p.gpus_total == 8 and p.gpu_not_measured == []
    # The decoder needs 7.2e7 * 0.005 / 60480 = 5.95 CPU replicas' worth, less than ASR's 7.94 GPUs' worth;
    # ten times faster GPUs (0.79 GPUs' worth) leave the decoder as the bottleneck.
    assert p.bottleneck == "asr" and p.stage("decoder").replicas == 6
    q = plan(costs(decoder=0.005, asr=0.05), hours_per_day=20_000, gpu_realtime={"asr": 1500})
    assert q.bottleneck == "decoder" and q.gpus_total == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hours_per_day": 0}, "hours per day must be a number above 0"),
    ({"hours_per_day": -3}, "hours per day must be a number above 0"),
    ({"hours_per_day": math.nan}, "hours per day must be a number above 0"),
    ({"hours_per_day": 10, "utilisation": 0}, "utilisation target must be above 0 and at most 1"),
    ({"hours_per_day": 10, "utilisation": 1.5}, "utilisation target must be above 0 and at most 1"),
    ({"hours_per_day": 10, "gpu_realtime": {"decoder": 10}}, "decoder has no GPU path"),
    ({"hours_per_day": 10, "gpu_realtime": {"asr": 0}}, "must be a number above 0"),
    ({"hours_per_day": 10, "gpu_realtime": {"histo_filter": 10}}, "has no measured cost"),
])
def test_bad_input_raises_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CapacityError, match=message):
        plan(costs(decoder=0.01, asr=0.05), **kwargs)  # type: ignore[arg-type]


def test_bad_costs_raise_a_clear_error() -> None:
    with pytest.raises(CapacityError, match="no stage costs"):
        plan([], 10)
    with pytest.raises(CapacityError, match="stage given twice: asr"):
        plan(costs(asr=0.1) + costs(asr=0.2), 10)
    with pytest.raises(CapacityError, match="cost must be a finite number"):
        StageCost("asr", -1.0)
    with pytest.raises(CapacityError, match="device must be one of cpu, gpu"):
        StageCost("asr", 0.1, device="tpu")
    with pytest.raises(CapacityError, match="unknown step"):
        costs_from_steps({"transcode": 1.0}, 10.0)
    with pytest.raises(CapacityError, match="need some video"):
        costs_from_steps({"decode": 1.0}, 0.0)


def test_costs_from_process_steps_map_steps_to_services() -> None:
    result = costs_from_steps({"histo": 2.0, "fetch": 0.1, "decode": 1.0, "asr": 8.0}, video_seconds=100.0)
    assert [(c.stage, c.seconds_per_video_second) for c in result] == [
        ("fetcher", 0.001), ("decoder", 0.01), ("asr", 0.08), ("histo_filter", 0.02)]


def test_gpu_realtime_arguments() -> None:
    assert parse_gpu_realtime(["asr=150", "histo=900"]) == {"asr": 150.0, "histo_filter": 900.0}
    for bad, message in [("asr", "expected STAGE=X"), ("asr=fast", "not a number"), ("asr=-2", "above 0"),
                         ("decode=40", "decoder has no GPU path"), ("ocr=3", "unknown stage")]:
        with pytest.raises(CapacityError, match=message):
            parse_gpu_realtime([bad])


def test_scaling_check_takes_the_fastest_runs() -> None:
    check = ScalingCheck.best_of("decoder", 4, 160.0, one=[(4.4, [1.1] * 4), (4.0, [1.0] * 4)],
                                 many=[(2.5, [1.2] * 4), (3.0, [1.5] * 4)])
    assert (check.one_worker_s, check.many_workers_s) == (4.0, 2.5)
    assert check.speedup == pytest.approx(1.6) and check.efficiency == pytest.approx(0.8)
    assert check.task_slowdown == pytest.approx(1.2)
    with pytest.raises(CapacityError, match="at least one run"):
        ScalingCheck.best_of("decoder", 4, 160.0, one=[], many=[(1.0, [])])


def test_hours_per_day_argument_is_checked() -> None:
    parser = argparse.ArgumentParser(prog="quilt bench")
    bench_scale.add_parser(parser.add_subparsers(dest="bench"))
    assert parser.parse_args(["scale", "--hours-per-day", "12.5"]).hours_per_day == 12.5
    for bad in (["scale"], ["scale", "--hours-per-day", "0"], ["scale", "--hours-per-day", "lots"],
                ["scale", "--hours-per-day", "5", "--gpu-realtime", "decode=3"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    # run() called directly (not through argparse) checks too.
    assert bench_scale.run(argparse.Namespace(hours_per_day=-1.0)) == 2


def test_run_measures_plans_and_ends_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "short.mp4"
    make_lecture(video, [
        SlideSpec("histology", 5.0, "The lymphocytes surround the glandular epithelium.", seed=3),
        SlideSpec("text", 4.0, "Thanks for watching.", title="Liver", lines=("Hepatocytes",)),
    ])
    parser = argparse.ArgumentParser(prog="quilt bench")
    bench_scale.add_parser(parser.add_subparsers(dest="bench"))
    report = tmp_path / "scale.json"
    args = parser.parse_args(["scale", "--hours-per-day", "100", "--videos", str(video), "--workers-check-videos",
                              "4", "--repeats", "1", "--gpu-realtime", "asr=150", "--json", str(report)])
    assert bench_scale.run(args) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    match = LINE.match(out[-1])
    assert match, out[-1]
    assert float(match["h"]) == 100 and float(match["s"]) > 0
    assert int(match["g"]) == 1  # asr on one GPU at the given 150x realtime
    assert "GPU: not measured" in "\n".join(out)  # histo_filter had no GPU figure
    data = json.loads(report.read_text())
    assert data["plan"]["bottleneck"] == match["b"] and data["plan"]["replicas_total"] == int(match["r"])
    assert data["video_seconds"] == pytest.approx(9.0, abs=0.3)
    assert data["step_seconds"]["decode"] > 0 and data["step_seconds"]["asr"] > 0
    assert data["scaling_check"]["speedup"] > 0 and len(data["scaling_check"]["decode_seconds"]["2"][0]) == 4


def test_the_cli_routes_bench_scale_and_rejects_a_bad_rate(capsys: pytest.CaptureFixture[str]) -> None:
    from quilt.cli.main import build_parser

    args = build_parser().parse_args(["bench", "scale", "--hours-per-day", "100", "--gpu-realtime", "asr=150"])
    assert (args.command, args.bench, args.hours_per_day) == ("bench", "scale", 100.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "scale", "--hours-per-day", "0"])
    assert "hours-per-day" in capsys.readouterr().err
