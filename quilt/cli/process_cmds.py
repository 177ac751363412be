"""`quilt process` and `quilt bench process`."""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from quilt.adapters.config import load_settings

from .ui import console, progress_bar

if TYPE_CHECKING:
    from quilt.pipeline import VideoOutcome


def run_sources(sources: list[str], out_dir: Path, threshold: float | None = None, pad_s: float | None = None,
                max_lag_s: float | None = None, max_words: int | None = None,
                dedup_jaccard: float | None = None) -> list[VideoOutcome]:
    """Unset pairing options come from the settings (QUILT_PAIR_* or quilt.toml)."""
    # Imported here, not at the top: every `quilt` command registers this module's parsers.
    from quilt.pipeline import STEPS, processor_from_settings

    outcomes = []
    with progress_bar() as progress:
        task = progress.add_task("process", total=len(sources) * len(STEPS), step="")

        def on_step(video: str, step: str) -> None:
            progress.update(task, step=f"{video}: {step}")
            progress.advance(task)

        processor = processor_from_settings(out_dir, load_settings(), on_step=on_step, histo_threshold=threshold,
                                            pad_s=pad_s, max_lag_s=max_lag_s, max_words=max_words,
                                            dedup_min_jaccard=dedup_jaccard)
        try:
            for number, source in enumerate(sources, start=1):
                outcomes.append(processor.run(source))
                progress.update(task, completed=number * len(STEPS))
        finally:
            processor.close()
    return outcomes


def outcome_table(outcomes: list[VideoOutcome]) -> Table:
    table = Table(title="quilt process")
    for column in ("video", "video s", "chunks", "kept", "sentences", "medical", "pairs", "dups dropped",
                   "lag s", "asr retries", "asr holes", "asr rescued", "cut", "wall s", "error"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.video_id or o.source, f"{o.duration_s:.1f}", str(o.chunks), str(o.kept),
                      str(o.sentences), str(o.medical), str(o.pairs), str(o.duplicates), f"{o.lag_s:+.2f}",
                      str(o.asr_retries), str(o.asr_holes), str(o.asr_rescued), str(o.cut), f"{o.seconds:.1f}",
                      f"[red]{o.error}[/]" if o.error else "")
    return table


def process(args: argparse.Namespace) -> int:
    out_dir = Path(args.out)
    outcomes = run_sources(args.sources, out_dir, args.histo_threshold, args.pad, args.max_lag,
                           args.pair_max_words, args.dedup_jaccard)
    console.print(outcome_table(outcomes))
    console.print(f"wrote {out_dir / 'pairs.jsonl'} and {out_dir / 'images'}/")
    return 1 if any(o.error for o in outcomes) else 0


def bench_process(args: argparse.Namespace) -> int:
    """Video seconds per wall second of the one-process pipeline, with the time per step."""
    out_dir = Path(args.out)
    began = time.monotonic()
    outcomes = run_sources(args.sources, out_dir)
    wall = time.monotonic() - began
    video_s = sum(o.duration_s for o in outcomes)
    steps: dict[str, float] = {}
    for o in outcomes:
        for step, seconds in o.step_seconds.items():
            steps[step] = steps.get(step, 0.0) + seconds
    report = {
        "videos": len(outcomes), "video_seconds": round(video_s, 2), "wall_seconds": round(wall, 2),
        "video_seconds_per_wall_second": round(video_s / wall, 2) if wall else None,
        "pairs": sum(o.pairs for o in outcomes),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "step_seconds": {k: round(v, 2) for k, v in steps.items()},
        "errors": [o.error for o in outcomes if o.error],
    }
    console.print(outcome_table(outcomes))
    print(json.dumps(report, indent=2))
    return 1 if report["errors"] else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt process` to the `quilt` sub-parsers."""
    parser = sub.add_parser("process", help="run every stage in one process (no broker, no Triton)",
                            description="Batch mode: the services' stage code in one process. Writes "
                                        "DIR/pairs.jsonl and DIR/images/.")
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="local file, http(s) URL, s3://bucket/key (QUILT_S3_* settings) or YouTube URL")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--histo-threshold", type=float, metavar="P",
                        help="keep frames whose calibrated histology probability is at least P "
                             "(default: the histo_threshold setting, 0.5)")
    parser.add_argument("--pad", type=float, metavar="S",
                        help="seconds of speech before/after an image still paired with it (default: pair_pad_s, 1)")
    parser.add_argument("--max-lag", type=float, metavar="S",
                        help="largest narrator lag (speech ahead of or behind the slides) estimated per video; "
                             "0 = off (default: pair_max_lag_s, 2)")
    parser.add_argument("--pair-max-words", type=int, metavar="N",
                        help="split an image's speech into pairs of at most N words, never cutting a sentence "
                             "(default: pair_max_words, 60)")
    parser.add_argument("--dedup-jaccard", type=float, metavar="J",
                        help="drop a pair whose image and text (word-pair Jaccard >= J) repeat a better pair "
                             "(default: pair_dedup_jaccard, 0.8)")
    parser.set_defaults(handler=process)


def register_bench(bench_sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench process` to the `quilt bench` sub-parsers."""
    parser = bench_sub.add_parser("process", help="throughput of `quilt process`",
                                  description="Video seconds per wall second and peak RSS of the one-process "
                                              "pipeline.")
    parser.add_argument("sources", nargs="+", metavar="VIDEO", help="video files")
    parser.add_argument("--out", default="build/bench-process", help="scratch output folder")
    parser.set_defaults(handler=bench_process)
