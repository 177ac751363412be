"""`quilt search "text query"`: the nearest pair images by the CLIP that Triton serves."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = ("Embed the query with the served CLIP (triton_models/clip, see python -m training.promote) and print "
               "the nearest pairs of the embedding index kept in the store (index/clip/<version>/): pair id, "
               "cosine score, caption and image key. --index-build first (re)builds the index for the served "
               "version from a pairs folder.")


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("query", nargs="?", help="the text to search for, e.g. \"liver hepatocytes\"")
    parser.add_argument("--k", type=int, default=5, help="how many pairs to print (default 5)")
    parser.add_argument("--index-build", metavar="PAIRS", dest="index_build",
                        help="first embed the pairs of PAIRS (a `quilt process --out` folder with pairs.jsonl and "
                             "images/, a pairs.jsonl file, or a folder topic of partition-*.jsonl) into the index")
    parser.add_argument("--images-from-store", action="store_true",
                        help="with --index-build: read pair images from the store by key instead of from the "
                             "PAIRS folder")
    parser.add_argument("--bucket-dir", metavar="DIR",
                        help="a local folder used as the store (default: the configured S3 bucket)")
    parser.add_argument("--triton-url", metavar="HOST:PORT",
                        help="Triton gRPC endpoint serving `clip` (default: the configured stack's)")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `search` on the top-level `quilt` sub-parsers."""
    parser = subparsers.add_parser("search", help="text -> nearest pair images with the served CLIP",
                                   description=DESCRIPTION)
    return configure(parser)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt search` to the `quilt` sub-parsers, run by `run`."""
    add_parser(sub).set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from quilt.adapters.store import LocalStore, ObjectStore
    from quilt.ops.search import SearchError, TritonClip, build_index, read_pairs_jsonl, search

    if not args.query and not args.index_build:
        print("error: give a query, --index-build PAIRS, or both", file=sys.stderr)
        return 2
    if args.k < 1:
        print("error: --k must be at least 1", file=sys.stderr)
        return 2
    url = args.triton_url
    store: ObjectStore
    if args.bucket_dir:
        store = LocalStore(Path(args.bucket_dir))
    if not url or not args.bucket_dir:
        from quilt.adapters.config import load_settings

        settings = load_settings()
        url = url or settings.triton
        if not args.bucket_dir:
            from quilt.adapters.bucket import configured_bucket

            store = configured_bucket(settings)
    clip = TritonClip(url)
    try:
        if args.index_build:
            source = Path(args.index_build)
            records = read_pairs_jsonl(source)
            root = None if args.images_from_store else (source if source.is_dir() else source.parent)
            summary = build_index(store, clip, records, image_root=root)
            print(f"index: {summary['count']} pairs embedded with clip version {summary['version']}")
        if args.query:
            hits = search(store, clip, args.query, args.k)
            for rank, hit in enumerate(hits, 1):
                labels = f" [{', '.join(hit.labels)}]" if hit.labels else ""
                print(f"{rank}. {hit.pair_id}  score={hit.score:.3f}  {hit.image}{labels}\n   {hit.text}")
    except (SearchError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        clip.close()
    return 0
