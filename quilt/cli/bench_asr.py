"""`quilt bench asr`: Whisper realtime factor through Triton per serving configuration and concurrency.

The last stdout line is machine-readable:

    asr: realtime_1=X realtime_best=Y best_config=NAME@cC
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from .ui import console

DESCRIPTION = ("For each configuration (instance count, threads per instance, dynamic batching) start Triton with a "
               "patched copy of the whisper model, send REQUESTS clips of espeak-ng speech from each concurrency's "
               "client threads and print audio seconds per wall second, then one line `asr: realtime_1=X "
               "realtime_best=Y best_config=NAME@cC` (realtime_1: the first configuration at concurrency 1).")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench asr` to the `quilt bench` sub-parsers."""
    parser = sub.add_parser("asr", help="Whisper realtime factor through Triton per serving configuration",
                            description=DESCRIPTION)
    parser.add_argument("--configs", nargs="*", metavar="NAME",
                        help="only these configurations (default: all: 1x2threads 2x1thread 2x2threads "
                             "1x2threads+batching)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4], metavar="C",
                        help="client threads to try (default 1 2 4)")
    parser.add_argument("--requests", type=int, default=8, help="requests per measurement (default 8)")
    parser.add_argument("--clip", type=float, default=20.0, help="seconds of speech per request (default 20)")
    parser.add_argument("--out", metavar="DIR", help="keep model copies and Triton logs here (default: temp)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from quilt.evaluation.bench.asr_throughput import DEFAULT_CONFIGS, run_asr_bench, summary_line

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
