"""`quilt bench asr`: Whisper realtime factor through Triton per serving configuration and concurrency.

The last stdout line is machine-readable:

    asr: realtime_1=X realtime_best=Y best_config=NAME@cC
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from quilt.bench.asr_throughput import DEFAULT_CONFIGS, run_asr_bench, summary_line

from .ui import console


def run(args: argparse.Namespace) -> int:
    configs = tuple(c for c in DEFAULT_CONFIGS if not args.configs or c.name in args.configs)
    if not configs:
        names = ", ".join(c.name for c in DEFAULT_CONFIGS)
        console.print(f"no such configuration; choose from: {names}")
        return 2
    concurrencies = tuple(sorted(set(args.concurrency)))
    rows = run_asr_bench(configs, concurrencies, requests=args.requests, clip_s=args.clip,
                         work_dir=Path(args.out) if args.out else None)
    table = Table(title=f"whisper through Triton ({args.requests} requests of {args.clip:.0f} s speech)")
    for column in ("config", "concurrency", "audio s", "wall s", "realtime factor"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.config, str(row.concurrency), f"{row.audio_s:.0f}", f"{row.wall_s:.2f}",
                      f"{row.realtime:.1f}")
    console.print(table)
    print(summary_line(rows), flush=True)
    return 0
