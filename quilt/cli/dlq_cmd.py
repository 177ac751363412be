"""`quilt dlq list|replay`: inspect the dead-letter topic and put fixed failures back on their input topics."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.markup import escape

from .ui import console, err_console

DESCRIPTION = ("Every message a service could not handle ends on the dead-letter topic with its stage, reason, "
               "attempt count and the original bytes. `list` shows them (filter by video, stage, reason); "
               "`replay` re-sends the original messages to their input topics once the cause is fixed. A "
               "replayed letter is marked in the bucket (dlq/replayed/), so a second replay skips it unless "
               "--again.")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", default="", metavar="VIDEO_ID", help="only this video's letters")
    parser.add_argument("--stage", default="", help="only letters from this stage (fetcher, decoder, asr, ...)")
    parser.add_argument("--reason", default="", help="only letters with this reason (e.g. transient_error)")
    parser.add_argument("--retryable-only", action="store_true",
                        help="only failures that retrying could fix (transient errors)")


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="dlq_command", metavar="{list,replay}", required=True)
    listing = sub.add_parser("list", help="show dead letters", description="Show the dead letters, oldest first.")
    _filters(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per letter instead of a table")
    again = sub.add_parser("replay", help="re-send dead letters to their input topics",
                           description="Re-send the matching dead letters' original messages to their input "
                                       "topics (acknowledged by the broker), and mark each as replayed.")
    _filters(again)
    again.add_argument("--again", action="store_true", help="also re-send letters replayed before")
    again.add_argument("--dry-run", action="store_true", help="say what would be replayed; send nothing")
    again.add_argument("--all", action="store_true",
                       help="allow a replay with no filter (every letter on the topic)")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `dlq` on the top-level `quilt` sub-parsers."""
    parser = subparsers.add_parser("dlq", help="list or replay the dead-letter topic", description=DESCRIPTION)
    return configure(parser)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt dlq` to the `quilt` sub-parsers, run by `run`."""
    add_parser(sub).set_defaults(handler=run)


def _row(item: Any, replayed: bool) -> dict[str, Any]:
    letter = item.letter
    return {"partition": item.partition, "offset": item.offset, "video_id": letter.video_id, "stage": letter.stage,
            "reason": letter.reason, "attempts": letter.attempts, "retryable": letter.retryable,
            "failed_at": letter.failed_at, "input_topic": letter.input_topic, "replayed": replayed,
            "message": letter.message}


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from quilt.adapters.bucket import configured_bucket
    from quilt.adapters.config import load_settings
    from quilt.ops.dlq import LetterFilter, read_letters, replay, replayed

    settings = load_settings()
    chosen = LetterFilter(args.video, args.stage, args.reason, args.retryable_only)
    if args.dlq_command == "replay" and chosen == LetterFilter() and not args.all:
        err_console.print("[red]error:[/red] replay needs a filter (--video, --stage, --reason, --retryable-only) "
                          "or --all")
        return 2
    try:
        letters = read_letters(settings)
    except Exception as err:  # noqa: BLE001 - kafka-python raises many kinds; the user needs the broker named
        err_console.print(f"[red]error:[/red] cannot read the dead-letter topic from {settings.kafka}: {err}")
        return 1
    store = configured_bucket(settings)
    matching = [item for item in letters if chosen.matches(item)]
    if args.dlq_command == "list":
        rows = [_row(item, replayed(store, item)) for item in matching]
        if args.json:
            for row in rows:
                print(json.dumps(row, sort_keys=True))
        else:
            table = Table(title=f"dead letters on {settings.topic('deadletter')}")
            for column in ("video", "stage", "reason", "attempts", "failed at", "replayed", "message"):
                table.add_column(column, overflow="fold")
            for row in rows:
                first_line = (row["message"].splitlines() or [""])[0][:120]
                table.add_row(row["video_id"], row["stage"], row["reason"], str(row["attempts"]), row["failed_at"],
                              "yes" if row["replayed"] else "", first_line)
            console.print(table)
        reasons: dict[str, int] = {}
        for row in rows:
            reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
        summary = " ".join(f"{reason}={count}" for reason, count in sorted(reasons.items()))
        print(f"dlq: letters={len(letters)} shown={len(rows)}" + (f" {summary}" if summary else ""), flush=True)
        return 0
    outcome = replay(settings, store, matching, again=args.again, dry_run=args.dry_run)
    verb = "would replay" if args.dry_run else "replayed"
    for item in outcome.replayed:
        console.print(f"{verb} {item.letter.video_id} ({item.letter.stage}: {item.letter.reason}) -> "
                      f"{item.letter.input_topic}")
    for item in outcome.refused:
        why = outcome.why.get((item.partition, item.offset)) or item.letter.message
        err_console.print(f"[yellow]cannot replay[/yellow] {item.partition}:{item.offset}: {escape(why)}",
                          highlight=False)
    print(f"replay: replayed={0 if args.dry_run else len(outcome.replayed)} skipped={len(outcome.skipped)} "
          f"refused={len(outcome.refused)}" + (f" dry_run={len(outcome.replayed)}" if args.dry_run else ""),
          flush=True)
    return 0
