"""How `quilt` registers its commands: every module adds its own sub-parser and handler (quilt/cli/main.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from quilt.cli.main import build_parser, dispatch

COMMANDS = ["stack", "submit", "subscribe", "subscriptions", "status", "pairs", "process", "bench", "search", "dlq",
            "takedown", "gallery", "eval", "demo"]
BENCHES = ["process", "decode", "keyframes", "text", "asr", "histo", "impurity", "scale", "train", "throughput"]
# What building the parser must not load: every `quilt` run builds it, even `quilt --help`.
HEAVY = ("av", "PIL", "scipy", "skimage", "torch", "faster_whisper", "ctranslate2", "kafka", "minio", "google.protobuf",
         "quiltpb", "training", "quilt.pipeline", "quilt.stages", "quilt.evaluation", "quilt.gallery", "quilt.testing")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_the_commands_are_listed_in_their_usual_order() -> None:
    commands = _subcommands(build_parser())
    assert list(commands) == COMMANDS
    assert list(_subcommands(commands["bench"])) == BENCHES


def test_every_command_has_a_handler() -> None:
    commands = _subcommands(build_parser())
    leaves = {name: parser for name, parser in commands.items() if name != "bench"}
    leaves |= {f"bench {name}": parser for name, parser in _subcommands(commands["bench"]).items()}
    for name, parser in leaves.items():
        assert callable(parser.get_default("handler")), name


def test_dispatch_runs_the_handler_and_turns_a_stack_error_into_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from quilt.stack.launcher import StackError

    assert dispatch(argparse.Namespace(handler=lambda args: 7)) == 7

    def broken(args: argparse.Namespace) -> int:
        raise StackError("the broker did not start")

    assert dispatch(argparse.Namespace(handler=broken)) == 2
    assert "quilt: the broker did not start" in capsys.readouterr().err


def test_building_the_parser_loads_no_heavy_code() -> None:
    script = ("import json, sys\nfrom quilt.cli.main import build_parser\nbuild_parser()\n"
              "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                       check=True).stdout)
    assert [name for name in loaded if any(name == h or name.startswith(h + ".") for h in HEAVY)] == []
