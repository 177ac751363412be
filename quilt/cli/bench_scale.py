"""`quilt bench scale`: replicas and GPUs per service for H hours of video a day, from costs measured here.

1. Cost per stage: `quilt process`'s stage code (quilt.pipeline.Processor) runs over a few lectures
   (generated narrated eval lectures, or --videos) in one child process pinned to one core, with one
   thread per stage (Whisper, FFmpeg, BLAS). A service's cost is the seconds its step took per second
   of video: one replica's core-seconds per video second.
2. quilt.ops.capacity.plan sizes every service for the daily load at the utilisation target. GPU figures
   are only used when given (--gpu-realtime asr=X); this command measures none, so without them ASR
   and the histology filter are sized on CPU cores and the output says the GPU figure was not measured.
3. The plan assumes replicas add throughput linearly. The check: the decoder's stage code
   (decode_frames) over the same videos with one worker process, then with two (each pinned to its
   own core, one thread); speedup = wall(1) / wall(2), efficiency = speedup / 2.

The last stdout line is machine-readable:

    scale: hours_per_day=H bottleneck=STAGE replicas_total=R gpus=G one_vs_two_workers=S
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.table import Table

from quilt.ops.capacity import (
    DEFAULT_UTILISATION,
    GPU_CAPABLE,
    STEP_SERVICE,
    CapacityError,
    Plan,
    ScalingCheck,
    costs_from_steps,
    parse_gpu_realtime,
    plan,
)

from .arg_types import number_above_zero
from .ui import console, err_console, progress_bar

DEFAULT_LECTURES = 3  # generated narrated eval lectures (~40 s each) when no --videos are given
DEFAULT_CHECK_VIDEOS = 24  # decodes per run of the 1-vs-2-workers check (the videos are cycled)
DEFAULT_REPEATS = 3  # timed runs per worker count; the fastest counts
CHECK_STAGE = "decoder"
LINEAR_ENOUGH = 0.9  # efficiency at or above which the linear-scaling assumption is called fine
# Thread pools that would otherwise take every core (numpy's BLAS, OpenMP in CTranslate2).
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_READY_TIMEOUT_S = 300.0


# -- arguments ---------------------------------------------------------------------------------------------

_hours = number_above_zero("hours of video per day")


def _utilisation(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"the utilisation target must be above 0 and at most 1, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _gpu_factor(text: str) -> str:
    try:
        parse_gpu_realtime([text])
    except CapacityError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


DESCRIPTION = (
    "Measure each stage's cost on this machine (seconds of compute per second of video, one core and one "
    "thread per replica, `quilt process`'s stage code over generated narrated lectures or --videos), size "
    "every service for H hours of video a day at the utilisation target, and name the bottleneck. ASR and "
    "the histology filter are sized on GPUs only with --gpu-realtime (a figure measured elsewhere); "
    "otherwise on CPU, marked 'GPU: not measured'. Then check the linear-scaling assumption: the decoder "
    "over the same videos with one worker process, then two. Ends with one line `scale: hours_per_day=H "
    "bottleneck=STAGE replicas_total=R gpus=G one_vs_two_workers=S`.")


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add `quilt bench scale`'s arguments to `parser`."""
    parser.add_argument("--hours-per-day", type=_hours, required=True, metavar="H",
                        help="hours of video to process per day (a number above 0)")
    parser.add_argument("--videos", nargs="+", type=Path, metavar="PATH",
                        help="measure on these video files (default: generate --lectures narrated lectures)")
    parser.add_argument("--lectures", type=_count, default=DEFAULT_LECTURES, metavar="N",
                        help=f"narrated ~40 s lectures to generate when no --videos are given "
                             f"(default {DEFAULT_LECTURES})")
    parser.add_argument("--workers-check-videos", type=_count, default=DEFAULT_CHECK_VIDEOS, metavar="N",
                        help=f"decodes in each run of the one-vs-two-workers check, cycling over the videos "
                             f"(default {DEFAULT_CHECK_VIDEOS})")
    parser.add_argument("--repeats", type=_count, default=DEFAULT_REPEATS, metavar="N",
                        help=f"timed runs of each worker count, alternating; the fastest of each counts, since "
                             f"other processes on a shared machine only slow a run down (default {DEFAULT_REPEATS})")
    parser.add_argument("--utilisation", type=_utilisation, default=DEFAULT_UTILISATION, metavar="U",
                        help=f"busy fraction each replica is sized for, in (0, 1] (default {DEFAULT_UTILISATION})")
    parser.add_argument("--gpu-realtime", action="append", type=_gpu_factor, default=[], metavar="STAGE=X",
                        help=f"size STAGE ({' or '.join(GPU_CAPABLE)}; histo works too) on GPUs, one GPU "
                             "handling X video seconds per second, e.g. asr=150 (measured elsewhere; "
                             "repeatable; default: none, GPU not measured)")
    parser.add_argument("--json", metavar="FILE", help="also write the plan and the measurements to this JSON file")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `scale` on the `quilt bench` sub-parsers (the object `add_subparsers()` returned)."""
    parser = subparsers.add_parser("scale", help="replicas and GPUs per service for H hours of video a day",
                                   description=DESCRIPTION)
    return configure(parser)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench scale` to the `quilt bench` sub-parsers, run by `run`."""
    add_parser(sub).set_defaults(handler=run)


# -- child processes ---------------------------------------------------------------------------------------

@contextmanager
def _single_thread_children() -> Iterator[None]:
    """Children spawned inside this block start with one-thread BLAS/OpenMP pools."""
    saved = {var: os.environ.get(var) for var in _THREAD_VARS}
    os.environ.update({var: "1" for var in _THREAD_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _pin(core: int) -> None:
    """One core for this process: FFmpeg's automatic thread count follows the affinity."""
    os.sched_setaffinity(0, {core})


_processor: Any = None


def _start_processor(core: int, out_dir: str, ready: Any) -> None:
    global _processor
    _pin(core)
    from quilt.adapters.config import load_settings
    from quilt.adapters.stage_params import asr_params, whisper_model_path
    from quilt.pipeline import processor_from_settings
    from quilt.stages.asr import FasterWhisperTranscriber

    settings = load_settings()
    # The embedded lexicon corrector (llm=None): an LLM endpoint's cost is not this machine's.
    transcriber = FasterWhisperTranscriber(model_path=whisper_model_path(), cpu_threads=1,
                                           initial_prompt=asr_params(settings).initial_prompt)
    _processor = processor_from_settings(Path(out_dir), settings, transcriber=transcriber, use_llm=False)
    ready.put(core)


def _process_one(path: str) -> tuple[Any, dict[str, str]]:
    """One video's VideoOutcome, and the models whose cost it measured."""
    models = {"asr": _processor.transcriber.name, "histo_filter": _processor.scorer.name}
    return _processor.run(path), models


def _decode_one(path: str) -> tuple[float, float]:
    """The decoder's frame stage on one file: (video seconds, wall seconds)."""
    from quilt.stages.decode.keyframes import decode_frames

    began = time.perf_counter()
    frames = decode_frames(Path(path))
    return frames.duration_s, time.perf_counter() - began


def _start_decoder(cores: Any, warm_path: str, ready: Any) -> None:
    core = cores.get()
    _pin(core)
    _decode_one(warm_path)  # imports, codec set-up and page cache out of the measured time
    ready.put(core)


def _allowed_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _wait_ready(ready: Any, count: int) -> None:
    for _ in range(count):
        ready.get(timeout=_READY_TIMEOUT_S)


# -- measuring ---------------------------------------------------------------------------------------------

def generate_lectures(folder: Path, count: int) -> list[Path]:
    """`count` narrated eval lectures (~40 s, 320x240, espeak-ng speech) in `folder`."""
    from quilt.testing.eval_lectures import make_eval_lecture  # the generators live with the test media

    return [make_eval_lecture(folder, "tuning", index)[0] for index in range(count)]


def measure_costs(videos: Sequence[Path], out_dir: Path, progress: Progress) -> tuple[list[Any], dict[str, str]]:
    """Run every stage of every video in one child process pinned to one core; returns the VideoOutcomes and
    the models used ({service: name})."""
    task = progress.add_task("stage costs", total=len(videos), step="loading models")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    outcomes = []
    models: dict[str, str] = {}
    with _single_thread_children(), ctx.Pool(1, _start_processor, (_allowed_cores()[0], str(out_dir), ready)) as pool:
        _wait_ready(ready, 1)
        progress.update(task, step=videos[0].name)
        for number, (outcome, used) in enumerate(pool.imap(_process_one, [str(v) for v in videos]), start=1):
            outcomes.append(outcome)
            models.update(used)
            progress.update(task, completed=number, step=videos[min(number, len(videos) - 1)].name)
        pool.close()
        pool.join()  # a clean exit: terminating the workers would leak the queue's semaphore
    ready.close()
    progress.update(task, step="done")
    return outcomes, models


@contextmanager
def _decoder_pool(workers: int, warm_path: str) -> Iterator[Any]:
    """`workers` warmed-up single-threaded decoder processes, each pinned to its own core where there are enough."""
    allowed = _allowed_cores()
    ctx = multiprocessing.get_context("spawn")
    cores, ready = ctx.Queue(), ctx.Queue()
    for i in range(workers):
        cores.put(allowed[i % len(allowed)])
    with _single_thread_children(), ctx.Pool(workers, _start_decoder, (cores, warm_path, ready)) as pool:
        _wait_ready(ready, workers)
        yield pool
        pool.close()
        pool.join()  # a clean exit: terminating the workers would leak the queues' semaphores
    cores.close()
    ready.close()


def time_workers(videos: Sequence[Path], tasks: int, repeats: int, progress: Progress,
                 counts: Sequence[int] = (1, 2)) -> dict[int, list[tuple[float, list[float]]]]:
    """Decode `tasks` videos (cycling over `videos`) with each worker count in `counts`, `repeats` times,
    alternating the counts so a neighbour's load hits both alike. Per count, per run: the wall seconds
    and each decode's own seconds."""
    paths = [str(videos[i % len(videos)]) for i in range(tasks)]
    task = progress.add_task(f"{CHECK_STAGE}: " + " vs ".join(map(str, counts)) + " workers",
                             total=tasks * repeats * len(counts), step="starting workers")
    runs: dict[int, list[tuple[float, list[float]]]] = {n: [] for n in counts}
    with ExitStack() as stack:
        pools = {n: stack.enter_context(_decoder_pool(n, paths[0])) for n in counts}
        for repeat in range(1, repeats + 1):
            for n, pool in pools.items():
                progress.update(task, step=f"run {repeat}/{repeats}, {n} worker{'s' if n > 1 else ''}")
                each: list[float] = []
                began = time.perf_counter()
                for _duration, seconds in pool.imap_unordered(_decode_one, paths):
                    each.append(seconds)
                    progress.advance(task)
                runs[n].append((time.perf_counter() - began, each))
    progress.update(task, step="done")
    return runs


# -- report ------------------------------------------------------------------------------------------------

def plan_table(the_plan: Plan) -> Table:
    table = Table(title=f"capacity for {the_plan.hours_per_day:g} h of video/day at "
                        f"{the_plan.utilisation:.0%} utilisation")
    for column in ("stage", "device", "cost s/s", "x realtime", "source", "replicas", "cores", "GPUs",
                   "h/day capacity"):
        table.add_column(column, justify="left" if column in ("stage", "device", "source") else "right")
    for s in the_plan.stages:
        device = s.device if s.device == "gpu" or not s.gpu_capable else "cpu (GPU not measured)"
        realtime = f"{1 / s.cost:.1f}" if s.cost else "inf"
        capacity = f"{s.capacity_hours_per_day:.0f}" if math.isfinite(s.capacity_hours_per_day) else "inf"
        name = f"[bold]{s.stage}[/]" if s.stage == the_plan.bottleneck else s.stage
        table.add_row(name, device, f"{s.cost:.5f}", realtime, s.source, str(s.replicas),
                      str(s.cores) if s.cores else "-", s.gpu_note, capacity)
    table.add_row("total", "", "", "", "", str(the_plan.replicas_total), str(the_plan.cores_total),
                  str(the_plan.gpus_total), f"{the_plan.max_hours_per_day:.0f}", style="bold")
    return table


def notes(the_plan: Plan, check: ScalingCheck, cores: int, models: dict[str, str]) -> list[str]:
    b = the_plan.stage(the_plan.bottleneck)
    lines = [f"bottleneck: {b.stage} ({b.exact_replicas:.2f} {b.device.upper()} replicas' worth of work at "
             f"{the_plan.utilisation:.0%}; {b.demand_s / 3600:.1f} {b.device}-hours/day)",
             f"the planned cluster saturates first at {the_plan.saturates_first}: it takes at most "
             f"{the_plan.max_hours_per_day:.0f} h of video/day at {the_plan.utilisation:.0%} utilisation"]
    missing = the_plan.gpu_not_measured
    if missing:
        lines.append(f"GPU: not measured. {', '.join(missing)} sized on CPU with the measured CPU cost; give "
                     f"--gpu-realtime STAGE=X from a GPU measurement to size them on GPUs")
    given = [s for s in the_plan.stages if s.gpu_measured]
    if given:
        lines.append("GPU figures given on the command line, not measured by this command: "
                     + ", ".join(f"{s.stage} {s.source.removeprefix('given: ')}" for s in given))
    verdict = ("close to" if check.efficiency >= LINEAR_ENOUGH else "below") + \
        f" the linear scaling the plan assumes ({check.workers} replicas = {check.workers:.2f}x one)"
    lines.append(f"scaling check ({check.stage}, {check.tasks} videos = {check.video_seconds:.0f} video s per run, "
                 f"fastest of {len(check.one_worker_runs)}): 1 worker {check.one_worker_s:.2f} s "
                 f"(runs {_walls(check.one_worker_runs)}), {check.workers} workers {check.many_workers_s:.2f} s "
                 f"(runs {_walls(check.many_workers_runs)}) -> speedup {check.speedup:.2f}x, efficiency "
                 f"{check.efficiency:.2f}: {verdict}")
    if check.task_slowdown:
        lines.append(f"  each decode took {check.task_slowdown:.2f}x as long beside the other worker "
                     f"(shared cache and memory bandwidth, other processes on this machine)")
    if check.efficiency < LINEAR_ENOUGH:
        lines.append(f"  replicas packed onto one host may need up to {1 / max(check.efficiency, 1e-9):.2f}x the "
                     f"planned CPU replicas; replicas on separate hosts are what the plan counts")
    decoder = next((st for st in the_plan.stages if st.stage == check.stage), None)
    if decoder is not None and decoder.device == "cpu" and check.one_worker_s > 0:
        lines.append(f"  1 worker decoded {check.video_seconds / check.one_worker_s:.0f}x realtime; the plan's "
                     f"{check.stage} cost is {1 / decoder.cost if decoder.cost else math.inf:.0f}x realtime")
    if cores < check.workers:
        lines.append(f"only {cores} core(s) allowed here: the {check.workers} workers shared them")
    used = ", ".join(f"{stage} = {name}" for stage, name in models.items())
    lines.append(f"measured on this machine: {cores} core(s) allowed, no GPU used; one core and one thread per "
                 f"stage; {used}; denoiser = embedded lexicon corrector; fetch timed on local files "
                 f"(downloads not included). Costs change with the models (e.g. larger Whisper weights)")
    return lines


def _walls(walls: Sequence[float]) -> str:
    return "/".join(f"{w:.2f}" for w in walls)


def scale_line(the_plan: Plan, check: ScalingCheck) -> str:
    return (f"scale: hours_per_day={the_plan.hours_per_day:g} bottleneck={the_plan.bottleneck} "
            f"replicas_total={the_plan.replicas_total} gpus={the_plan.gpus_total} "
            f"one_vs_two_workers={check.speedup:.2f}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def report(the_plan: Plan, check: ScalingCheck, models: dict[str, str], videos: Sequence[Path],
           outcomes: Sequence[Any],
           steps: dict[str, float], video_s: float,
           runs: dict[int, list[tuple[float, list[float]]]]) -> dict[str, Any]:
    return _jsonable({
        "machine": {"cores": len(_allowed_cores()), "gpu": None, "threads_per_stage": 1},
        "models": models,
        "videos": [{"path": str(v), "video_s": o.duration_s, "step_seconds": o.step_seconds}
                   for v, o in zip(videos, outcomes, strict=True)],
        "video_seconds": video_s,
        "step_seconds": steps,
        "plan": {**asdict(the_plan), "replicas_total": the_plan.replicas_total, "cores_total": the_plan.cores_total,
                 "gpus_total": the_plan.gpus_total, "gpu_not_measured": the_plan.gpu_not_measured},
        "scaling_check": {**asdict(check), "speedup": check.speedup, "efficiency": check.efficiency,
                          "task_slowdown": check.task_slowdown,
                          "decode_seconds": {str(n): [each for _wall, each in rs] for n, rs in runs.items()}},
    })


def run(args: argparse.Namespace) -> int:
    hours = getattr(args, "hours_per_day", None)
    utilisation = getattr(args, "utilisation", DEFAULT_UTILISATION)
    try:
        gpu = parse_gpu_realtime(getattr(args, "gpu_realtime", None) or [])
        if not isinstance(hours, int | float) or not math.isfinite(hours) or hours <= 0:
            raise CapacityError(f"--hours-per-day must be a number above 0, got {hours!r}")
        if not isinstance(utilisation, int | float) or not 0 < utilisation <= 1:
            raise CapacityError(f"--utilisation must be above 0 and at most 1, got {utilisation!r}")
    except CapacityError as err:
        err_console.print(f"quilt bench scale: {err}")
        return 2
    given = [Path(v) for v in (getattr(args, "videos", None) or [])]
    missing = [str(v) for v in given if not v.is_file()]
    if missing:
        err_console.print(f"quilt bench scale: no such file: {', '.join(missing)}")
        return 2
    check_tasks = int(getattr(args, "workers_check_videos", None) or DEFAULT_CHECK_VIDEOS)
    repeats = int(getattr(args, "repeats", None) or DEFAULT_REPEATS)
    lectures = int(getattr(args, "lectures", None) or DEFAULT_LECTURES)

    with tempfile.TemporaryDirectory(prefix="quilt-bench-scale-") as tmp:
        with progress_bar() as progress:
            videos = given
            if not videos:
                gen = progress.add_task("generate lectures", total=1, step=f"{lectures} x ~40 s")
                videos = generate_lectures(Path(tmp) / "lectures", lectures)
                progress.update(gen, completed=1, step="done")
            outcomes, models = measure_costs(videos, Path(tmp) / "process", progress)
            failed = [f"{o.source}: {o.error}" for o in outcomes if o.error]
            if failed:
                err_console.print(f"quilt bench scale: a video failed: {'; '.join(failed)}")
                return 1
            runs = time_workers(videos, check_tasks, repeats, progress)

    video_s = sum(o.duration_s for o in outcomes)
    steps: dict[str, float] = {step: 0.0 for step in STEP_SERVICE}
    for o in outcomes:
        for step, seconds in o.step_seconds.items():
            steps[step] = steps.get(step, 0.0) + seconds
    check_video_s = sum(o.duration_s for o in (outcomes[i % len(outcomes)] for i in range(check_tasks)))
    check = ScalingCheck.best_of(CHECK_STAGE, check_tasks, check_video_s, runs[1], runs[2], workers=2)
    try:
        the_plan = plan(costs_from_steps(steps, video_s), hours, utilisation, gpu)
    except CapacityError as err:
        err_console.print(f"quilt bench scale: {err}")
        return 2

    console.print(f"measured {len(videos)} video(s), {video_s:.1f} video s: "
                  + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in steps.items()))
    console.print(plan_table(the_plan))
    for line in notes(the_plan, check, len(_allowed_cores()), models):
        console.print(line, highlight=False, soft_wrap=True)
    if getattr(args, "json", None):
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = report(the_plan, check, models, videos, outcomes, steps, video_s, runs)
        path.write_text(json.dumps(data, indent=2) + "\n")
    # Plain print, not rich: the line must never be wrapped or styled.
    print(scale_line(the_plan, check), flush=True)
    return 0
