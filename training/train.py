"""`python -m training.train --config FILE`: continual CLIP fine-tuning on the pair stream.

Reads the pair topic (or a folder topic), the images from the bucket, and checkpoints to the bucket
under [schedule] checkpoint_prefix; started again (after a crash or kill -9) it resumes from the
latest checkpoint and its offsets. The last stdout line is JSON: step, counts, metrics, offsets.

Distributed: the same command under torchrun, one process per GPU (or per CPU rank, over gloo):
  torchrun --nproc_per_node 4 -m training.train --config quiltnet-vit-b32
Each rank reads the pair partitions p with p % ranks == rank, steps in lockstep with the others,
and [optim] batch_size is per rank. Rank 0 evaluates, writes the checkpoints and prints the JSON.
A checkpoint resumes under any number of ranks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from quilt.adapters.store import LocalStore, ObjectStore

from .checkpoint import trained_audit
from .config import ConfigError, load_config
from .distributed import from_env
from .model import ModelError
from .sources import FolderPairSource, KafkaPairSource, PairSource


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, metavar="FILE",
                        help="training config: a TOML/JSON file, or a shipped name (tiny, quiltnet-vit-b32)")
    parser.add_argument("--source", default="kafka", metavar="SPEC",
                        help="'kafka' (the pair topic of the configured stack, the default) or 'folder:DIR' "
                             "(partition-N.jsonl files of pair records)")
    parser.add_argument("--bucket", metavar="DIR",
                        help="a local folder used as the bucket (images and checkpoints); default: the stack's bucket")
    parser.add_argument("--max-steps", type=int, metavar="N", help="stop after this many optimiser steps in total")
    parser.add_argument("--minutes", type=float, metavar="M", help="stop after this many minutes of this run")
    parser.add_argument("--stop-when-idle", action="store_true",
                        help="train what is left and stop when the source has nothing more (default: keep waiting)")
    parser.add_argument("--audit", action="store_true",
                        help="print the per-pass audit of trained pair ids from the checkpoint lineage and exit")
    return parser


def open_source(spec: str, rank: int = 0, world_size: int = 1) -> PairSource:
    if spec.startswith("folder:"):
        return FolderPairSource(Path(spec.removeprefix("folder:")), rank, world_size)
    if spec == "kafka":
        from quilt.adapters.config import load_settings
        from quilt.core import topics

        settings = load_settings()
        from quilt.adapters.kafka_client import kafka_python_options

        return KafkaPairSource(settings.kafka, settings.topic(topics.PAIRS), rank, world_size,
                               options=kafka_python_options(settings))
    raise ValueError(f"--source must be 'kafka' or 'folder:DIR', got {spec!r}")


def open_bucket(folder: str | None) -> ObjectStore:
    if folder:
        return LocalStore(Path(folder))
    from quilt.adapters.bucket import configured_bucket
    from quilt.adapters.config import load_settings

    return configured_bucket(load_settings())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_steps is not None and args.max_steps < 1:
        print("error: --max-steps must be at least 1", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        store = open_bucket(args.bucket)
        if args.audit:
            audit = trained_audit(store, config.schedule.checkpoint_prefix)
            print(json.dumps({p: {k: v for k, v in a.items() if k != "ids"} for p, a in audit["passes"].items()}))
            return 0
        collective = from_env()
        source = open_source(args.source, collective.rank, collective.world_size)
    except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .job import TrainingJob

    prefix = f"[rank {collective.rank}] " if collective.world_size > 1 else ""

    def log(message: str) -> None:
        print(prefix + message, file=sys.stderr, flush=True)

    try:
        job = TrainingJob(config, source, store, log=log, collective=collective)
        job.restore()
        deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
        report = job.run(max_steps=args.max_steps, stop_when_idle=args.stop_when_idle, deadline=deadline)
    except ModelError as exc:
        print(f"{prefix}error: {exc}", file=sys.stderr)
        return 2
    finally:
        source.close()
    collective.close()
    if collective.is_main:
        print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
