"""`quilt stack up|down|status|restart`."""

from __future__ import annotations

import argparse

from rich.table import Table

from quilt.adapters.config import SERVICES, load_settings
from quilt.stack.launcher import Stack

from .ui import console, err_console


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt stack` to the `quilt` sub-parsers."""
    stack = sub.add_parser("stack", help="manage the embedded stack (S3 store, broker, Triton, services)",
                           description="Start, stop or inspect the embedded stack on loopback.")
    stack.add_argument("action", choices=["up", "down", "status", "restart", "wipe"],
                       help="up: start everything; down: stop everything; status: health and memory; "
                            "restart COMPONENT: restart the S3 store, the broker, Triton or one service; "
                            "wipe: delete the data dir")
    stack.add_argument("component", nargs="?", choices=["s3", "broker", "triton", *SERVICES],
                       help="for restart: which component")
    stack.set_defaults(handler=run)


def stack_table(stack: Stack) -> Table:
    table = Table(title=f"quilt stack ({stack.settings.data_dir})")
    for column in ("component", "pid", "address", "healthy", "RSS MiB", "peak RSS MiB"):
        table.add_column(column)
    for state in stack.status():
        table.add_row(state.name, str(state.pid or "-"), state.address,
                      "[green]yes[/]" if state.healthy else "[red]no[/]",
                      f"{state.rss_mib:.0f}", f"{state.peak_rss_mib:.0f}")
    return table


def run(args: argparse.Namespace) -> int:
    stack = Stack(load_settings(), say=lambda line: err_console.print(line))
    if args.action == "up":
        stack.up()
        console.print(stack_table(stack))
    elif args.action == "down":
        stopped = stack.down()
        console.print(f"stack down: stopped {len(stopped)} processes")
    elif args.action == "status":
        console.print(stack_table(stack))
        return 0 if all(s.healthy for s in stack.status()) else 3
    elif args.action == "restart":
        if not args.component:
            raise SystemExit("quilt stack restart needs a component name")
        stack.restart(args.component)
    elif args.action == "wipe":
        stack.wipe()
        console.print(f"removed {stack.settings.data_dir}")
    return 0
