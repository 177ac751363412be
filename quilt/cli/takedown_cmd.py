"""`quilt takedown VIDEO_ID`: withdraw a video at its owner's request (the steps are in quilt/ops/takedown/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape

from quilt.core.keys import quarantine_key

DESCRIPTION = ("Withdraw a video at its owner's request: write the marker takedowns/VIDEO_ID.json, publish a "
               "tombstone (key VIDEO_ID, no value, header quilt-tombstone) on the pair topic so consumers delete "
               "too, mask the pairs other videos made on its images out of their WebDataset shards and Parquet "
               "index, remove its entries from the phash, image-texts and search indexes, delete every object of "
               "the video, and mark the takedown done. The trainer excludes the video from then on. Safe to run "
               "again (a rerun completes an interrupted takedown). The last line is `takedown: video=ID objects=N "
               "pairs=P masked=M tombstone=yes|no`.")


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("video_id", metavar="VIDEO_ID", help="the video to withdraw, e.g. v-0123456789abcdef")
    parser.add_argument("--reason", default="", metavar="TEXT", help="why (kept in the takedown marker)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    parser.add_argument("--dry-run", action="store_true", help="only print what would be deleted and masked")
    parser.add_argument("--force", action="store_true",
                        help="record the takedown (marker, tombstone) even when the bucket holds nothing of the video")
    parser.add_argument("--no-tombstone", action="store_true",
                        help="publish no tombstone (a later run without this flag still publishes it)")
    parser.add_argument("--bucket-dir", metavar="DIR",
                        help="a local folder used as the store (default: the configured S3 bucket); implies "
                             "--no-tombstone")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `takedown` on the top-level `quilt` sub-parsers."""
    parser = subparsers.add_parser("takedown", help="withdraw a video: tombstone, delete, mask, exclude from training",
                                   description=DESCRIPTION)
    return configure(parser)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt takedown` to the `quilt` sub-parsers, run by `run`."""
    add_parser(sub).set_defaults(handler=run)


def _summary(found: Any) -> None:
    from rich.table import Table

    from .ui import console

    table = Table(title=f"takedown of {found.video_id}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for prefix, count in sorted(found.by_prefix().items()):
        table.add_row(f"delete {prefix}", str(count))
    for other in sorted(set(found.footprint.masked) | set(found.states)):
        pairs = found.footprint.masked.get(other, set())
        table.add_row(f"mask {other}'s pairs on its pictures (shards, index, records, join state)",
                      str(len(pairs)) if pairs else "check")
    table.add_row("index/phash entries", str(len(found.phash)))
    table.add_row("index/image-texts entries", str(len(found.image_texts)))
    for base, rows in sorted(found.search.items()):
        table.add_row(f"search rows in {base}", str(rows))
    console.print(table)
    if found.marker:
        state = found.marker.get("state")
        console.print(f"a takedown is recorded ({state}, requested {found.marker.get('requested_at')}): this run "
                      + ("looks for leftovers" if state == "done" else "completes it"))


def _line(video_id: str, objects: int, pairs: int, masked: int, tombstone: bool, dry_run: bool = False) -> str:
    line = (f"takedown: video={video_id} objects={objects} pairs={pairs} masked={masked} "
            f"tombstone={'yes' if tombstone else 'no'}")
    return line + (" dry_run=yes" if dry_run else "")


def _confirmed(video_id: str) -> bool | None:
    """True/False from the operator; None when nobody can be asked (stdin is not a terminal)."""
    if not sys.stdin.isatty():
        return None
    answer = input(f"Withdraw {video_id} for good? Its objects and pairs are deleted. [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from quilt.adapters.store import LocalStore, ObjectStore
    from quilt.ops.takedown import Publish, TakedownError, check_video_id, kafka_publisher, plan, takedown

    from .ui import console, err_console, progress_bar

    try:
        video_id = check_video_id(args.video_id)
    except TakedownError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store: ObjectStore
    settings = None
    if args.bucket_dir:
        store = LocalStore(Path(args.bucket_dir))
    else:
        from quilt.adapters.bucket import configured_bucket
        from quilt.adapters.config import load_settings

        settings = load_settings()
        store = configured_bucket(settings)
    found = plan(store, video_id)
    if found.empty and found.marker is None and not args.force:
        print(f"error: no such video: {video_id} (the bucket holds no object, pair or index entry of it, and no "
              "takedown marker); --force records the takedown anyway", file=sys.stderr)
        return 1
    _summary(found)
    tombstone = not args.no_tombstone and settings is not None
    if args.dry_run:
        console.print("dry run: nothing changed")
        print(_line(video_id, len(found.objects), found.pairs, found.masked, False, dry_run=True), flush=True)
        return 0
    if not args.yes:
        answer = _confirmed(video_id)
        if answer is None:
            print(f"error: not taking down {video_id} without confirmation: stdin is not a terminal; pass --yes",
                  file=sys.stderr)
            return 2
        if not answer:
            console.print("aborted: nothing changed")
            return 1
    publish: Publish | None = kafka_publisher(settings) if tombstone and settings is not None else None
    with progress_bar() as bar:
        task = bar.add_task(f"takedown {video_id}", total=max(found.steps(), 1), step="")

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, step=what)

        try:
            # After a prompt the bucket may have moved on: plan again rather than act on what was shown.
            report = takedown(store, video_id, reason=args.reason, publish=publish, progress=progress,
                              planned=found if args.yes else None)
        except TakedownError as err:
            err_console.print(f"[red]error:[/] {err}")
            return 1
        except Exception as err:  # noqa: BLE001 - the broker: say what to do, the marker keeps the takedown started
            from kafka.errors import KafkaError

            if not isinstance(err, KafkaError | OSError):
                raise
            where = settings.kafka if settings is not None else "the broker"
            err_console.print(f"[red]error:[/] could not publish the tombstone to {where}: {err!r}. The takedown is "
                              "recorded as started and nothing was deleted yet: run it again when the broker is up, "
                              "or with --no-tombstone")
            return 3
        bar.update(task, completed=bar.tasks[0].total or 1, step="done")
    if report.masked_elsewhere:
        for other, pairs in sorted(report.masked_elsewhere.items()):
            console.print(f"masked {len(pairs)} pair(s) of {other} on {video_id}'s images")
    for key in report.quarantined:
        err_console.print(f"[yellow]warning:[/] {escape(key)} could not be read as a shard: moved to "
                          f"{escape(quarantine_key(key))}")
    console.print(f"deleted {report.objects_deleted} object(s) ({report.pairs_deleted} pair record(s)), removed "
                  f"{report.index_entries_removed} index entries, rewrote {report.shards_rewritten} shard(s)"
                  + ("" if report.tombstone_published else "; no tombstone published"))
    print(_line(video_id, report.objects_deleted, report.pairs_deleted, report.pairs_masked_elsewhere,
                report.tombstone_published), flush=True)
    return 0
