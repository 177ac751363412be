"""`quilt gallery`: write (and optionally serve) a page of the newest pairs."""

from __future__ import annotations

import argparse
import functools
import http.server
from pathlib import Path

from quilt import gallery
from quilt.config import load_settings

from .store_access import bucket
from .ui import console


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.source:
        count = gallery.from_jsonl_folder(Path(args.source), out, args.limit)
    else:
        count = gallery.from_bucket(bucket(load_settings()), out, args.limit)
    console.print(f"wrote {out / 'index.html'} with {count} pairs")
    if args.serve:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.serve), handler) as server:
            console.print(f"serving on http://127.0.0.1:{args.serve}/ (Ctrl-C to stop)")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
    return 0
