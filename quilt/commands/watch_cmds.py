"""`quilt status [VIDEO_ID]` and `quilt pairs tail`."""

from __future__ import annotations

import argparse
import json
import time

from rich.table import Table

from quilt import topics
from quilt.config import load_settings
from quilt.status import STAGES, list_status_videos, read_video_status
from quilt.topic_reader import assigned_consumer
from quilt.wire import pair_from_pb
from quiltpb.v1 import messages_pb2 as pb

from .store_access import bucket
from .ui import console

_STYLE = {"done": "green", "failed": "red", "waiting": "yellow"}


def _cell(entry: dict | None) -> str:
    if not entry:
        return "[dim]-[/]"
    state = entry.get("state", "?")
    style = _STYLE.get(state, "white")
    extra = f" {entry['reason']}" if entry.get("reason") else ""
    return f"[{style}]{state}{extra}[/]"


def status(args: argparse.Namespace) -> int:
    store = bucket(load_settings())
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
    table = Table(title="videos")
    table.add_column("video", no_wrap=True)
    for stage in STAGES:
        table.add_column(stage)
    table.add_column("pairs")
    failed = 0
    for video_id in list_status_videos(store):
        stages = read_video_status(store, video_id)
        failed += any(e.get("state") == "failed" for e in stages.values())
        pairs = stages.get("aligner", {}).get("detail", {}).get("pairs", "")
        table.add_row(video_id, *[_cell(stages.get(s)) for s in STAGES], str(pairs))
    console.print(table)
    if failed:
        console.print(f"{failed} video(s) failed: `quilt status VIDEO_ID` shows why")
    return 0


def pairs_tail(args: argparse.Namespace) -> int:
    """Follow the pair topic; a plain consumer with manual assignment (no group is needed to read)."""
    shown = 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    with assigned_consumer(load_settings(), topics.PAIRS, from_beginning=args.from_beginning) as consumer:
        try:
            while deadline is None or time.monotonic() < deadline:
                for record in consumer:
                    message = pb.Pair()
                    message.ParseFromString(record.value)
                    print(json.dumps(pair_from_pb(message).to_dict(), sort_keys=True), flush=True)
                    shown += 1
                    if args.count and shown >= args.count:
                        return 0
        except KeyboardInterrupt:
            pass
    return 0
