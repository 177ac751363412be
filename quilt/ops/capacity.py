"""Capacity planning: how many replicas (and GPUs) each service needs for H hours of video a day.

Pure arithmetic, no measuring: `quilt bench scale` (quilt/cli/bench_scale.py) measures the
per-stage costs and hands them here. A stage's cost is the seconds of compute one replica spends
per second of video (on `cores` cores). For a daily load of V video seconds a stage has a demand
of V * cost device-seconds, and needs

    replicas = ceil(V * cost / (86400 * utilisation))

so that each replica stays at or below the utilisation target (0.7 by default: headroom for
bursts, restarts and uneven videos). The arithmetic assumes replicas add throughput linearly;
`ScalingCheck` holds the local measurement of that assumption.

GPU figures are never invented. ASR and the histology filter can run on a GPU (Triton); they
are sized on a GPU only when a realtime factor per GPU is given (`gpu_realtime`, e.g. asr=150:
one GPU transcribes 150 video seconds per second). Without one they are sized on the CPU with
their measured CPU cost, and the plan says the GPU figure was not measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from quilt.adapters.config import SERVICES

SECONDS_PER_DAY = 86400.0
DEFAULT_UTILISATION = 0.7
DEVICES = ("cpu", "gpu")
# `quilt process` step names -> the service that runs the same stage code.
STEP_SERVICE = {"fetch": "fetcher", "decode": "decoder", "asr": "asr", "denoise": "denoiser",
                "histo": "histo_filter", "align": "aligner"}
# Services with a GPU path in production (their model is served by Triton).
GPU_CAPABLE = ("asr", "histo_filter")
_EPS = 1e-9  # 2.0000000001 replicas is 2 replicas, not 3


class CapacityError(ValueError):
    """Input the planner cannot use; the message says which value and why."""


@dataclass(frozen=True)
class StageCost:
    """What one replica of a service costs, as measured."""

    stage: str  # a service name (quilt.adapters.config.SERVICES)
    seconds_per_video_second: float  # compute seconds of one replica per second of video
    device: str = "cpu"  # the device it was measured on
    cores: int = 1  # cores one replica uses while measured

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise CapacityError(f"{self.stage}: device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if not _finite(self.seconds_per_video_second) or self.seconds_per_video_second < 0:
            raise CapacityError(f"{self.stage}: cost must be a finite number of seconds >= 0, "
                                f"got {self.seconds_per_video_second!r}")
        if self.cores < 1:
            raise CapacityError(f"{self.stage}: cores per replica must be at least 1, got {self.cores}")

    @property
    def realtime(self) -> float:
        """Video seconds one replica handles per second (inf for a free stage)."""
        return 1.0 / self.seconds_per_video_second if self.seconds_per_video_second else math.inf


@dataclass(frozen=True)
class StagePlan:
    stage: str
    device: str  # what the stage is sized on: "cpu" or "gpu"
    gpu_capable: bool  # the stage has a GPU path (Triton) in production
    gpu_measured: bool  # a GPU realtime factor was given for it
    cost: float  # device-seconds per video second used for sizing (1/realtime on a GPU)
    source: str  # where `cost` comes from
    demand_s: float  # device-seconds of work per day
    exact_replicas: float  # demand / (86400 * utilisation), before rounding up
    replicas: int
    cores: int  # cores per replica; 0 for a stage sized on GPUs (its CPU share was not measured)
    gpus: int  # GPUs (one per replica) when sized on GPUs, else 0
    capacity_hours_per_day: float  # video hours a day these replicas take at the utilisation target

    @property
    def gpu_note(self) -> str:
        if self.device == "gpu":
            return str(self.gpus)
        return "not measured" if self.gpu_capable else "-"


@dataclass(frozen=True)
class Plan:
    hours_per_day: float
    utilisation: float
    stages: tuple[StagePlan, ...]
    bottleneck: str  # the stage with the largest demand (most replicas' worth of work)
    saturates_first: str  # in the planned cluster, the stage that reaches 100% busy first as load grows
    max_hours_per_day: float  # video hours/day the planned cluster takes at the utilisation target

    @property
    def replicas_total(self) -> int:
        return sum(s.replicas for s in self.stages)

    @property
    def cores_total(self) -> int:
        return sum(s.replicas * s.cores for s in self.stages)

    @property
    def gpus_total(self) -> int:
        return sum(s.gpus for s in self.stages)

    @property
    def gpu_not_measured(self) -> list[str]:
        """GPU-capable stages sized on the CPU because no GPU figure was given."""
        return [s.stage for s in self.stages if s.gpu_capable and not s.gpu_measured]

    def stage(self, name: str) -> StagePlan:
        for s in self.stages:
            if s.stage == name:
                return s
        raise KeyError(name)


def plan(costs: Iterable[StageCost], hours_per_day: float, utilisation: float = DEFAULT_UTILISATION,
         gpu_realtime: Mapping[str, float] | None = None) -> Plan:
    """Size every stage for `hours_per_day` hours of video a day; see the module docstring."""
    costs = list(costs)
    gpu_realtime = dict(gpu_realtime or {})
    if not _finite(hours_per_day) or hours_per_day <= 0:
        raise CapacityError(f"hours per day must be a number above 0, got {hours_per_day!r}")
    if not _finite(utilisation) or not 0 < utilisation <= 1:
        raise CapacityError(f"utilisation target must be above 0 and at most 1, got {utilisation!r}")
    if not costs:
        raise CapacityError("no stage costs to plan with")
    names = [c.stage for c in costs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise CapacityError(f"stage given twice: {', '.join(duplicated)}")
    for stage, factor in gpu_realtime.items():
        if stage not in names:
            raise CapacityError(f"GPU realtime factor for {stage!r}, which has no measured cost "
                                f"(stages: {', '.join(names)})")
        if stage not in GPU_CAPABLE:
            raise CapacityError(f"{stage} has no GPU path; GPU figures apply to {', '.join(GPU_CAPABLE)}")
        if not _finite(factor) or factor <= 0:
            raise CapacityError(f"GPU realtime factor for {stage} must be a number above 0, got {factor!r}")

    video_s = hours_per_day * 3600.0
    budget = SECONDS_PER_DAY * utilisation  # busy seconds a replica may spend per day
    stages = []
    for c in costs:
        on_gpu = c.stage in gpu_realtime
        if on_gpu:
            factor = gpu_realtime[c.stage]
            cost, source, cores = 1.0 / factor, f"given: {factor:g}x realtime per GPU", 0
        else:
            cost, source, cores = c.seconds_per_video_second, f"measured on {c.cores} {c.device} core(s)", c.cores
        demand = video_s * cost
        exact = demand / budget
        replicas = max(1, math.ceil(exact - _EPS))
        capacity = math.inf if cost == 0 else replicas * budget / cost / 3600.0
        stages.append(StagePlan(stage=c.stage, device="gpu" if on_gpu else c.device,
                                gpu_capable=c.stage in GPU_CAPABLE, gpu_measured=on_gpu, cost=cost, source=source,
                                demand_s=demand, exact_replicas=exact, replicas=replicas, cores=cores,
                                gpus=replicas if on_gpu else 0, capacity_hours_per_day=capacity))
    # Ties: the first stage in pipeline order wins, so the answer does not depend on float noise.
    bottleneck = max(stages, key=lambda s: s.exact_replicas).stage
    first = min(stages, key=lambda s: (s.capacity_hours_per_day, -s.exact_replicas))
    return Plan(hours_per_day=hours_per_day, utilisation=utilisation, stages=tuple(stages), bottleneck=bottleneck,
                saturates_first=first.stage, max_hours_per_day=first.capacity_hours_per_day)


def costs_from_steps(step_seconds: Mapping[str, float], video_seconds: float, cores: int = 1) -> list[StageCost]:
    """`quilt process` step totals (seconds, summed over videos) and the videos' total length -> one CPU
    StageCost per service, in pipeline order."""
    if not _finite(video_seconds) or video_seconds <= 0:
        raise CapacityError(f"need some video to measure costs on, got {video_seconds!r} video seconds")
    unknown = sorted(set(step_seconds) - set(STEP_SERVICE))
    if unknown:
        raise CapacityError(f"unknown step(s): {', '.join(unknown)} (known: {', '.join(STEP_SERVICE)})")
    by_service = {STEP_SERVICE[step]: seconds for step, seconds in step_seconds.items()}
    return [StageCost(service, by_service[service] / video_seconds, "cpu", cores)
            for service in SERVICES if service in by_service]


def stage_name(text: str) -> str:
    """A service name from a service or `quilt process` step name (`histo` -> `histo_filter`)."""
    name = STEP_SERVICE.get(text.strip(), text.strip())
    if name not in SERVICES:
        raise CapacityError(f"unknown stage {text!r}; stages: {', '.join(SERVICES)}")
    return name


def parse_gpu_realtime(items: Iterable[str]) -> dict[str, float]:
    """`STAGE=X` strings (X: video seconds per second on one GPU) -> {service: X}."""
    factors: dict[str, float] = {}
    for item in items:
        stage, sep, value = item.partition("=")
        if not sep:
            raise CapacityError(f"expected STAGE=X (e.g. asr=150), got {item!r}")
        name = stage_name(stage)
        try:
            factor = float(value)
        except ValueError:
            raise CapacityError(f"{item!r}: {value!r} is not a number") from None
        if not _finite(factor) or factor <= 0:
            raise CapacityError(f"{item!r}: the realtime factor must be a number above 0")
        if name not in GPU_CAPABLE:
            raise CapacityError(f"{name} has no GPU path; GPU figures apply to {', '.join(GPU_CAPABLE)}")
        factors[name] = factor
    return factors


@dataclass(frozen=True)
class ScalingCheck:
    """The same CPU-stage work run by one worker process, then by `workers` worker processes.

    The wall times are the fastest of the runs: on a shared machine other processes only ever slow
    a run down. `busy_*_s` add up each task's own seconds within those fastest runs, so their ratio
    shows how much slower each task ran beside the others."""

    stage: str
    tasks: int  # videos processed in each run
    video_seconds: float  # their total length
    one_worker_s: float  # wall time with one worker
    many_workers_s: float  # wall time with `workers` workers
    workers: int = 2
    one_worker_runs: tuple[float, ...] = ()  # every run's wall time
    many_workers_runs: tuple[float, ...] = ()
    busy_one_s: float = 0.0
    busy_many_s: float = 0.0

    @classmethod
    def best_of(cls, stage: str, tasks: int, video_seconds: float, one: Sequence[tuple[float, Sequence[float]]],
                many: Sequence[tuple[float, Sequence[float]]], workers: int = 2) -> ScalingCheck:
        """From (wall seconds, each task's seconds) per run, for one worker and for `workers` workers."""
        if not one or not many:
            raise CapacityError("the scaling check needs at least one run with each worker count")
        if workers < 2:
            raise CapacityError(f"the scaling check compares one worker with several, got workers={workers}")
        best_one, best_many = min(one, key=lambda r: r[0]), min(many, key=lambda r: r[0])
        return cls(stage, tasks, video_seconds, best_one[0], best_many[0], workers,
                   tuple(r[0] for r in one), tuple(r[0] for r in many), sum(best_one[1]), sum(best_many[1]))

    @property
    def speedup(self) -> float:
        return self.one_worker_s / self.many_workers_s if self.many_workers_s > 0 else 0.0

    @property
    def efficiency(self) -> float:
        """Speedup per worker: 1.0 is the linear scaling the plan assumes."""
        return self.speedup / self.workers

    @property
    def task_slowdown(self) -> float:
        """How much longer each task took beside the other workers (1.0: no slower); 0 when not recorded."""
        return self.busy_many_s / self.busy_one_s if self.busy_one_s > 0 else 0.0


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
