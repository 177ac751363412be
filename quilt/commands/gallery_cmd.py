"""`quilt gallery`: write a page of the newest pairs, or serve it live on a loopback port."""

from __future__ import annotations

import argparse
from pathlib import Path

from quilt import gallery
from quilt.config import load_settings
from quilt.gallery_server import LiveGallery, make_server
from quilt.gallery_sources import BucketSource, FolderSource, PairSource

from .store_access import bucket
from .ui import console


def _source(args: argparse.Namespace) -> PairSource:
    return FolderSource(Path(args.source)) if args.source else BucketSource(bucket(load_settings()))


def run(args: argparse.Namespace) -> int:
    if args.serve is None:
        out = Path(args.out)
        if args.source:
            count = gallery.from_jsonl_folder(Path(args.source), out, args.limit)
        else:
            count = gallery.from_bucket(bucket(load_settings()), out, args.limit)
        console.print(f"wrote {out / 'index.html'} with {count} pairs")
        return 0
    # Served, the page is rebuilt from the store on every load: no copy to go stale.
    with make_server(LiveGallery(_source(args), args.limit), args.serve) as server:
        host, port = server.server_address[:2]
        console.print(f"serving the newest {args.limit} pairs live on http://{host!s}:{port}/ (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0
