"""`quilt gallery`: write a page of the newest pairs, or serve it live on a loopback port."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from quilt.adapters.bucket import configured_bucket
from quilt.adapters.config import load_settings

from .ui import console

if TYPE_CHECKING:
    from quilt.gallery.sources import PairSource

DESCRIPTION = ("Write DIR/index.html showing the newest pairs (image, text with corrections marked, what Whisper "
               "heard, video and interval, histology and alignment scores, magnification, sub-pathology, impurity "
               "tags; filters by video and tag), from the bucket or a `quilt process` folder. --serve PORT serves "
               "it live on 127.0.0.1 instead, re-reading the pairs on every page load.")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt gallery` to the `quilt` sub-parsers."""
    gallery = sub.add_parser("gallery", help="an HTML page of the newest pairs", description=DESCRIPTION)
    gallery.add_argument("--from", dest="source", metavar="DIR",
                         help="a `quilt process` output folder (default: the stack's bucket)")
    gallery.add_argument("--out", default="build/gallery", metavar="DIR", help="where the page goes")
    gallery.add_argument("--limit", type=int, default=200, help="how many pairs (default 200)")
    gallery.add_argument("--serve", type=int, metavar="PORT",
                         help="serve the newest pairs live on 127.0.0.1:PORT instead of writing --out "
                              "(0: a free port)")
    gallery.set_defaults(handler=run)


def _source(args: argparse.Namespace) -> PairSource:
    from quilt.gallery.sources import BucketSource, FolderSource

    return FolderSource(Path(args.source)) if args.source else BucketSource(configured_bucket(load_settings()))


def run(args: argparse.Namespace) -> int:
    from quilt.gallery import build as gallery
    from quilt.gallery.server import LiveGallery, make_server

    if args.serve is None:
        out = Path(args.out)
        if args.source:
            count = gallery.from_jsonl_folder(Path(args.source), out, args.limit)
        else:
            count = gallery.from_bucket(configured_bucket(load_settings()), out, args.limit)
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
