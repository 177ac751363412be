"""`quilt bench decode`: the project's decoder against a plain full decode and Quilt's reference method.

Every (file, method) pair runs in a fresh child process (quilt.evaluation.bench.runner) so each reports
its own wall time and peak RSS. The last stdout line is machine-readable:

    decode: realtime=R vs_quilt=Q vs_full_decode=F peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from quilt.stack.locations import CHECKOUT_ROOT

from .arg_types import width_by_height
from .ui import console, err_console, progress_bar

if TYPE_CHECKING:
    from quilt.evaluation.bench.runner import RunResult

LECTURE_PART_S = 40.0  # one default_script() in quilt/testing/lecture.py
DESCRIPTION = ("Per file, run in separate processes (1) the project's decoder (decode_frames + iter_audio), (2) a "
               "plain PyAV decode of every frame to RGB and (3) Quilt's reference method (OpenCV, SSIM on random "
               "crops of every frame pair); print wall time, speed, peak RSS and chunks, then one line `decode: "
               "realtime=R vs_quilt=Q vs_full_decode=F peak_rss_mb=M` (ratios above 1: the project's decoder is "
               "faster; Q is 0 with --skip-quilt; RSS in MiB).")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench decode` to the `quilt bench` sub-parsers."""
    parser = sub.add_parser("decode", help="the decoder against a plain full decode and Quilt's reference method",
                            description=DESCRIPTION)
    parser.add_argument("files", nargs="*", metavar="FILE", help="video files")
    parser.add_argument("--skip-quilt", action="store_true", help="leave out the (slow) reference method")
    cores = parser.add_mutually_exclusive_group()
    cores.add_argument("--threads", type=int, default=0, metavar="N",
                       help="pin each run to N cores; FFmpeg's and OpenCV's thread counts follow (0: all cores)")
    cores.add_argument("--one-core", action="store_true",
                       help="pin each run to one core, core 0 when allowed (same as --threads 1)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    parser.add_argument("--generate", type=float, metavar="MINUTES",
                        help="first generate a lecture of about this length (40 s parts) and bench it too")
    parser.add_argument("--out", default="build/bench-decode", metavar="DIR",
                        help="folder for --generate (default build/bench-decode)")
    parser.add_argument("--size", type=width_by_height, default=(854, 480), metavar="WxH",
                        help="--generate frame size (default 854x480)")
    parser.add_argument("--fps", type=int, default=25, help="--generate frame rate (default 25)")
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class Summary:
    realtime: float  # video seconds per wall second of the project decoder
    vs_quilt: float  # quilt wall / ours wall; 0 when the reference was skipped
    vs_full_decode: float  # full-decode wall / ours wall; above 1 = ours is faster
    peak_rss_mb: float  # the project decoder's largest peak RSS, MiB

    def line(self) -> str:
        return (f"decode: realtime={self.realtime:.2f} vs_quilt={self.vs_quilt:.2f} "
                f"vs_full_decode={self.vs_full_decode:.2f} peak_rss_mb={self.peak_rss_mb:.1f}")


def _child_env() -> dict[str, str]:
    # The children must import this very checkout, installed or not; a wheel's copy is importable anyway.
    env = dict(os.environ)
    checkout = str(CHECKOUT_ROOT) if CHECKOUT_ROOT else ""
    env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, env.get("PYTHONPATH", "")) if p)
    return env


def generate_lecture(minutes: float, out_dir: Path, size: tuple[int, int] = (854, 480), fps: int = 25) -> Path:
    """Write a lecture of about `minutes` (40 s parts chained) with quilt.testing.lecture; returns its path."""
    parts = max(1, round(minutes * 60 / LECTURE_PART_S))
    folder = Path(out_dir).resolve() / f"lecture-{parts * LECTURE_PART_S / 60:g}min-{size[0]}x{size[1]}-{fps}fps"
    target = folder / "lecture-01.mp4"
    if not target.exists():  # generating an hour of 480p takes minutes; reuse an earlier one
        subprocess.run([sys.executable, "-m", "quilt.testing.lecture", "--out", str(folder), "--parts", str(parts),
                        "--size", f"{size[0]}x{size[1]}", "--fps", str(fps)],
                       check=True, env=_child_env(), stdout=subprocess.DEVNULL)
    return target


def run_child(method: str, path: Path, cores: int = 0) -> RunResult:
    """Run one method on one file in a fresh interpreter and return what it measured."""
    from quilt.evaluation.bench.runner import RunResult

    cmd = [sys.executable, "-m", "quilt.evaluation.bench.runner", method, str(path), "--cores", str(cores)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise RuntimeError(f"{method} on {path.name} failed: {tail[0]}")
    return RunResult(**json.loads(proc.stdout.strip().splitlines()[-1]))


def summarize(results: list[RunResult]) -> Summary:
    """Totals over all files, so a long video weighs more than a short one."""
    def wall(method: str) -> float:
        return sum(r.wall_s for r in results if r.method == method)

    ours = [r for r in results if r.method == "ours"]
    ours_wall = wall("ours") or 1e-9
    return Summary(realtime=sum(r.duration_s for r in ours) / ours_wall,
                   vs_quilt=wall("quilt") / ours_wall,
                   vs_full_decode=wall("full_decode") / ours_wall,
                   peak_rss_mb=max((r.peak_rss_mib for r in ours), default=0.0))


def file_table(path: Path, results: list[RunResult]) -> Table:
    table = Table(title=f"decode {path.name}")
    for column in ("method", "wall s", "video s / wall s", "frames decoded", "peak RSS MiB", "chunks"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for r in results:
        speed = r.duration_s / r.wall_s if r.wall_s else 0.0
        table.add_row(r.method, f"{r.wall_s:.2f}", f"{speed:.1f}", str(r.frames_decoded),
                      f"{r.peak_rss_mib:.1f}", "-" if r.chunks is None else str(r.chunks))
    return table


def run(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    if args.generate:
        files.append(generate_lecture(args.generate, Path(args.out), args.size, args.fps))
    if not files:
        err_console.print("quilt bench decode: give FILE arguments or --generate MINUTES")
        return 2
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        err_console.print(f"quilt bench decode: no such file: {', '.join(missing)}")
        return 2
    methods = ["ours", "full_decode"] + ([] if args.skip_quilt else ["quilt"])
    cores = 1 if args.one_core else args.threads
    per_file: dict[Path, list[RunResult]] = {}
    with progress_bar() as progress:
        task = progress.add_task("bench decode", total=len(files) * len(methods), step="")
        for path in files:
            for method in methods:
                progress.update(task, step=f"{path.name}: {method}")
                try:
                    per_file.setdefault(path, []).append(run_child(method, path, cores))
                except RuntimeError as err:
                    err_console.print(f"quilt bench decode: {err}")
                    return 1
                progress.advance(task)
    for path, results in per_file.items():
        console.print(file_table(path, results))
    summary = summarize([r for results in per_file.values() for r in results])
    if args.json:
        report = {"cores": cores or len(os.sched_getaffinity(0)), "summary": asdict(summary),
                  "files": {str(p): [asdict(r) for r in rs] for p, rs in per_file.items()}}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    # Plain print, not rich: the line must never be wrapped or styled.
    print(summary.line(), flush=True)
    return 0
