"""`quilt bench NAME`: the benchmark group. Each benchmark's module registers its own sub-command."""

from __future__ import annotations

import argparse

from . import (
    bench_asr,
    bench_decode,
    bench_histo,
    bench_impurity,
    bench_keyframes,
    bench_scale,
    bench_text,
    bench_throughput,
    bench_train,
    process_cmds,
)

# In the order `quilt bench --help` lists them.
BENCHES = (process_cmds.register_bench, bench_decode.register, bench_keyframes.register, bench_text.register,
           bench_asr.register, bench_histo.register, bench_impurity.register, bench_scale.register,
           bench_train.register, bench_throughput.register)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench` and every benchmark under it to the `quilt` sub-parsers."""
    bench = sub.add_parser("bench", help="benchmarks", description="Measure speed and memory.")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for register_bench in BENCHES:
        register_bench(bench_sub)
