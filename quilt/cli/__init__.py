"""The `quilt` command line: `main` parses the arguments and runs one command module's handler."""

from quilt.cli.main import main

__all__ = ["main"]
