"""`quilt status [VIDEO_ID]` and `quilt pairs tail`."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from rich.table import Table

from quilt.adapters.bucket import configured_bucket
from quilt.adapters.config import load_settings
from quilt.adapters.status import STAGES, list_status_videos, read_video_status
from quilt.adapters.topic_reader import assigned_consumer
from quilt.core import topics
from quilt.ops.lag import GroupLag, consumer_lag
from quilt.ops.stage_throughput import stage_throughput

from .ui import console

_STYLE = {"done": "green", "failed": "red", "waiting": "yellow"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt status` and `quilt pairs` to the `quilt` sub-parsers."""
    status_parser = sub.add_parser("status", help="progress per video and stage, with errors",
                                   description="Show every video's state per stage, or one video in detail.")
    status_parser.add_argument("video_id", nargs="?", help="show this video's stages in detail")
    status_parser.add_argument("--no-lag", action="store_true", help="do not ask the broker for consumer lag")
    status_parser.add_argument("--lag-only", action="store_true",
                               help="only the consumer lag per service group and topic "
                                    "(and its machine-readable line)")
    status_parser.set_defaults(handler=status)

    pairs = sub.add_parser("pairs", help="read the pair topic", description="Follow the pair topic.")
    pairs.add_argument("action", choices=["tail"], help="tail: print pairs as JSON lines as they arrive")
    pairs.add_argument("--from-beginning", action="store_true", help="start from the oldest pair")
    pairs.add_argument("--count", type=int, default=0, help="stop after this many pairs (0: never)")
    pairs.add_argument("--timeout", type=float, default=0.0, help="stop after this many seconds (0: never)")
    pairs.set_defaults(handler=pairs_tail)


def _cell(entry: dict | None) -> str:
    if not entry:
        return "[dim]-[/]"
    state = entry.get("state", "?")
    style = _STYLE.get(state, "white")
    extra = f" {entry['reason']}" if entry.get("reason") else ""
    return f"[{style}]{state}{extra}[/]"


def status(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = configured_bucket(settings)
    if args.video_id:
        stages = read_video_status(store, args.video_id)
        if not stages:
            console.print(f"no video {args.video_id}")
            return 1
        table = Table(title=f"video {args.video_id}")
        for column in ("stage", "state", "seconds", "detail", "updated"):
            table.add_column(column)
        for stage in STAGES:
            entry = stages.get(stage)
            detail = ""
            if entry:
                detail = entry.get("message") or json.dumps(entry.get("detail", {}))
            table.add_row(stage, _cell(entry), f"{entry['seconds']:.2f}" if entry else "",
                          detail[:300], entry.get("updated_at", "") if entry else "")
        console.print(table)
        return 0
    if not getattr(args, "lag_only", False):  # --lag-only asks the broker only: no scan of every video's status
        videos = {video_id: read_video_status(store, video_id) for video_id in list_status_videos(store)}
        console.print(videos_table(videos))
        console.print(throughput_table(videos))
        failed = sum(any(e.get("state") == "failed" for e in stages.values()) for stages in videos.values())
        if failed:
            console.print(f"{failed} video(s) failed: `quilt status VIDEO_ID` shows why")
    if getattr(args, "no_lag", False):
        return 0
    try:
        lags = consumer_lag(settings)
    except OSError as err:
        console.print(f"[yellow]lag unknown: {err}[/]")
        return 0
    console.print(lag_table(lags))
    print(f"lag: total={sum(row.lag for row in lags)} groups={len({row.group for row in lags})}", flush=True)
    return 0


def videos_table(videos: dict[str, dict[str, dict]]) -> Table:
    table = Table(title="videos")
    table.add_column("video", no_wrap=True)
    for stage in STAGES:
        table.add_column(stage)
    table.add_column("pairs")
    for video_id, stages in videos.items():
        pairs = stages.get("aligner", {}).get("detail", {}).get("pairs", "")
        table.add_row(video_id, *[_cell(stages.get(s)) for s in STAGES], str(pairs))
    return table


def throughput_table(videos: dict[str, dict[str, dict]]) -> Table:
    table = Table(title="stages")
    for column in ("stage", "done", "running", "failed", "done in 10 min", "realtime x (one replica)"):
        table.add_column(column)
    for row in stage_throughput(videos, STAGES, datetime.now(UTC)):
        table.add_row(row.stage, str(row.done), str(row.running), str(row.failed), str(row.recent),
                      f"{row.realtime:.1f}" if row.realtime else "-")
    return table


def lag_table(lags: list[GroupLag]) -> Table:
    table = Table(title="consumer lag (what each service has not consumed yet)")
    for column in ("group", "topic", "written", "consumed", "lag"):
        table.add_column(column)
    for row in lags:
        style = "yellow" if row.lag else "green"
        table.add_row(row.group, row.topic, str(row.end), str(row.committed), f"[{style}]{row.lag}[/]")
    return table


def pairs_tail(args: argparse.Namespace) -> int:
    """Follow the pair topic; a plain consumer with manual assignment (no group is needed to read).

    A takedown's tombstone prints as `takedown: <video_id>`."""
    # Here, not at the top: protobuf and the takedown code are slow to import, and only this command needs them.
    from quilt.adapters.wire import pair_from_pb
    from quilt.ops.takedown.markers import tombstone_of
    from quiltpb.v1 import messages_pb2 as pb

    shown = 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    with assigned_consumer(load_settings(), topics.PAIRS, from_beginning=args.from_beginning) as consumer:
        try:
            while deadline is None or time.monotonic() < deadline:
                for record in consumer:
                    withdrawn = tombstone_of(record.key, record.value, record.headers)
                    if withdrawn is not None:  # `quilt takedown`: the video's pairs are withdrawn
                        print(f"takedown: {withdrawn}", flush=True)
                    else:
                        message = pb.Pair()
                        message.ParseFromString(record.value)
                        print(json.dumps(pair_from_pb(message).to_dict(), sort_keys=True), flush=True)
                    shown += 1
                    if args.count and shown >= args.count:
                        return 0
        except KeyboardInterrupt:
            pass
    return 0
