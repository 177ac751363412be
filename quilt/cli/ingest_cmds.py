"""`quilt submit`, `quilt subscribe` and `quilt subscriptions list|remove`."""

from __future__ import annotations

import argparse
import time

from rich.table import Table

from quilt.adapters.bucket import configured_bucket
from quilt.adapters.config import load_settings
from quilt.core.types import StageError

from .ui import console, err_console

# The handlers import the submitter, the registry and the source parser themselves: they load PyAV,
# and building the parser for `quilt --help` should not.


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt submit`, `quilt subscribe` and `quilt subscriptions` to the `quilt` sub-parsers."""
    submit_parser = sub.add_parser("submit", help="publish video requests",
                                   description="Publish one request per source to the requested-videos topic.")
    submit_parser.add_argument("sources", nargs="+", metavar="SOURCE",
                               help="a local file, http(s) URL, s3://bucket/key or YouTube video URL")
    submit_parser.set_defaults(handler=submit)

    subscribe_parser = sub.add_parser("subscribe", help="ingest new videos from a source continuously",
                                      description="Register a folder, s3:// prefix, YouTube channel or playlist; "
                                                  "the fetcher polls it and submits each new video once.")
    subscribe_parser.add_argument("source", help="folder, s3://bucket/prefix/, or YouTube channel/playlist URL")
    subscribe_parser.add_argument("--interval", type=float, default=300.0,
                                  help="seconds between polls (default 300)")
    subscribe_parser.set_defaults(handler=subscribe)

    subscriptions_parser = sub.add_parser("subscriptions", help="list or remove subscriptions",
                                          description="List the subscriptions, or remove one by id or source.")
    subscriptions_parser.add_argument("action", choices=["list", "remove"], help="what to do")
    subscriptions_parser.add_argument("target", nargs="?", help="for remove: the subscription id or source")
    subscriptions_parser.set_defaults(handler=subscriptions)


def submit(args: argparse.Namespace) -> int:
    from quilt.ops.submit import Submitter, build_request

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
    from quilt.ops.subscriptions import SubscriptionRegistry
    from quilt.stages.fetch.sources import parse_source

    source = args.source
    if not source.startswith(("s3://", "http://", "https://")):
        parsed = parse_source(source)  # resolves a folder to its absolute path
        source = parsed.uri
    elif source.startswith(("http://", "https://")):
        parsed = parse_source(source)
        if parsed.kind not in ("youtube_playlist", "youtube_channel"):
            raise SystemExit(f"{source} is a single video: use `quilt submit` for it")
    sub = SubscriptionRegistry(configured_bucket(load_settings())).add(source, args.interval)
    console.print(f"subscribed {sub.sub_id}  {sub.source}  every {sub.interval_s:.0f} s")
    return 0


def subscriptions(args: argparse.Namespace) -> int:
    from quilt.ops.subscriptions import SubscriptionRegistry

    registry = SubscriptionRegistry(configured_bucket(load_settings()))
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
