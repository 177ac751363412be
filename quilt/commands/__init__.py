"""Implementations of the `quilt` sub-commands (the parser lives in quilt.cli)."""
