"""The `quilt` command line.

Each command module registers its own sub-command(s) with `register(sub)`, which adds the parser
and sets `handler`, a function from the parsed arguments to the exit code. Registering imports
argparse and rich only: a handler imports the heavy code it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from quilt.adapters.config import ConfigError
from quilt.core.types import StageError

from . import (
    bench_group,
    demo,
    dlq_cmd,
    eval_cmd,
    gallery_cmd,
    ingest_cmds,
    process_cmds,
    search_cmd,
    stack_cmds,
    takedown_cmd,
    watch_cmds,
)

# In the order `quilt --help` lists the commands.
COMMANDS = (stack_cmds.register, ingest_cmds.register, watch_cmds.register, process_cmds.register,
            bench_group.register, search_cmd.register, dlq_cmd.register, takedown_cmd.register, gallery_cmd.register,
            eval_cmd.register, demo.register)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quilt", description="Turn narrated histopathology lectures into image-text pairs, continuously.",
        epilog="Settings come from QUILT_* environment variables or quilt.toml; see README.md.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except (ConfigError, StageError) as err:
        print(f"quilt: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - unreachable servers get one clear line, not a traceback
        from quilt.adapters.bucket import unreachable_hint

        hint = unreachable_hint(err)
        if hint is None:
            raise
        print(f"quilt: {hint}", file=sys.stderr)
        return 3


def dispatch(args: argparse.Namespace) -> int:
    """Run the handler the chosen command registered; a stack that fails to start or stop exits 2."""
    from quilt.stack.launcher import StackError

    try:
        return int(args.handler(args))
    except StackError as err:
        print(f"quilt: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
