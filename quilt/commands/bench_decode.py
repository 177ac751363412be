"""`quilt bench decode`: the project's decoder against a plain full decode and Quilt's reference method.

Every (file, method) pair runs in a fresh child process (quilt.bench.runner) so each reports
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

from rich.table import Table

import quilt
from quilt.bench.runner import RunResult

from .ui import console, err_console, progress_bar

LECTURE_PART_S = 40.0  # one default_script() in tests/media/lecture.py
_REPO_ROOT = Path(quilt.__file__).resolve().parent.parent


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
    # The children must import this very checkout (and tests.media for --generate), installed or not.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def generate_lecture(minutes: float, out_dir: Path, size: tuple[int, int] = (854, 480), fps: int = 25) -> Path:
    """Write a lecture of about `minutes` (40 s parts chained) with tests.media.lecture; returns its path."""
    parts = max(1, round(minutes * 60 / LECTURE_PART_S))
    folder = Path(out_dir) / f"lecture-{parts * LECTURE_PART_S / 60:g}min-{size[0]}x{size[1]}-{fps}fps"
    target = folder / "lecture-01.mp4"
    if not target.exists():  # generating an hour of 480p takes minutes; reuse an earlier one
        subprocess.run([sys.executable, "-m", "tests.media.lecture", "--out", str(folder), "--parts", str(parts),
                        "--size", f"{size[0]}x{size[1]}", "--fps", str(fps)],
                       check=True, cwd=_REPO_ROOT, env=_child_env(), stdout=subprocess.DEVNULL)
    return target


def run_child(method: str, path: Path, cores: int = 0) -> RunResult:
    """Run one method on one file in a fresh interpreter and return what it measured."""
    cmd = [sys.executable, "-m", "quilt.bench.runner", method, str(path), "--cores", str(cores)]
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
