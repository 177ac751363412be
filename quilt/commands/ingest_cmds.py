"""`quilt submit`, `quilt subscribe` and `quilt subscriptions list|remove`."""

from __future__ import annotations

import argparse
import time

from rich.table import Table

from quilt.config import load_settings
from quilt.stages.fetch import parse_source
from quilt.stages.types import StageError
from quilt.submit import Submitter, build_request
from quilt.subscriptions import SubscriptionRegistry

from .store_access import bucket
from .ui import console, err_console


def submit(args: argparse.Namespace) -> int:
    settings = load_settings()
    requests, bad = [], 0
    for source in args.sources:
        try:
            requests.append(build_request(source))
        except (StageError, ValueError) as err:
            err_console.print(f"[red]skipped[/] {source}: {err}")
            bad += 1
    if requests:
        submitter = Submitter(settings)
        try:
            submitter.send(requests)
        finally:
            submitter.close()
    for request in requests:
        console.print(f"submitted {request.video_id}  {request.source}")
    return 2 if bad else 0


def subscribe(args: argparse.Namespace) -> int:
    source = args.source
    if not source.startswith(("s3://", "http://", "https://")):
        parsed = parse_source(source)  # resolves a folder to its absolute path
        source = parsed.uri
    elif source.startswith(("http://", "https://")):
        parsed = parse_source(source)
        if parsed.kind not in ("youtube_playlist", "youtube_channel"):
            raise SystemExit(f"{source} is a single video: use `quilt submit` for it")
    sub = SubscriptionRegistry(bucket(load_settings())).add(source, args.interval)
    console.print(f"subscribed {sub.sub_id}  {sub.source}  every {sub.interval_s:.0f} s")
    return 0


def subscriptions(args: argparse.Namespace) -> int:
    registry = SubscriptionRegistry(bucket(load_settings()))
    if args.action == "remove":
        if not args.target:
            raise SystemExit("quilt subscriptions remove needs a subscription id or source")
        removed = registry.remove(args.target)
        console.print("removed" if removed else f"no subscription {args.target}")
        return 0 if removed else 1
    table = Table(title="subscriptions")
    for column in ("id", "source", "every (s)", "videos seen", "created"):
        table.add_column(column)
    for sub in registry.list():
        table.add_row(sub.sub_id, sub.source, f"{sub.interval_s:.0f}", str(len(registry.seen(sub.sub_id))),
                      time.strftime("%Y-%m-%d %H:%M", time.gmtime(sub.created_at)))
    console.print(table)
    return 0
