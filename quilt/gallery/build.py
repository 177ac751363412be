"""A page of image-text pairs, to look at what the pipeline made: written once, or served live.

The page itself is built in `gallery_page`; this module picks the pairs (newest first), groups
the texts of one image together and writes a static copy with its images.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from quilt.adapters.store import ObjectStore
from quilt.core import keys
from quilt.core.ids import short_hash
from quilt.core.records import PairRecord
from quilt.gallery.page import Group, Item, page
from quilt.gallery.sources import BucketSource, FolderSource, PairSource

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def newest_first(records: list[PairRecord]) -> list[PairRecord]:
    """Newest video first; within a video, in the order it was shown."""
    in_order = sorted(records, key=lambda r: (r.video_id, r.t_start))
    return sorted(in_order, key=lambda r: r.created_at, reverse=True)


def image_group(record: PairRecord) -> str:
    """What the texts of one picture share: the key frame's id, or (older records) its image key."""
    return record.image_id or record.image


def image_name(record: PairRecord) -> str:
    """A file name for the record's picture, safe to put in a folder or a URL whatever the ids hold."""
    base = record.image_id or record.pair_id
    suffix = Path(record.image).suffix.lower()
    suffix = suffix if suffix in _IMAGE_SUFFIXES else ".jpg"
    return f"{base}{suffix}" if _SAFE_NAME.fullmatch(base) else f"img-{short_hash(base)}{suffix}"


def group_by_image(items: Iterable[Item]) -> list[Group]:
    """Groups in the order their first pair comes; inside a group, by time in the video."""
    groups: dict[str, list[Item]] = {}
    for record, src in items:
        groups.setdefault(image_group(record), []).append((record, src))
    return [sorted(group, key=lambda item: item[0].t_start) for group in groups.values()]


def render(records: Iterable[Item], title: str, subtitle: str = "") -> str:
    return page(group_by_image(records), title, subtitle)


def write_page(source: PairSource, out: Path, limit: int, title: str, in_place: bool = False) -> int:
    """out/index.html of the newest `limit` pairs; images are copied to out/images/ unless in_place
    (then the records' own relative image paths are used, the page sitting next to pairs.jsonl)."""
    records = newest_first(source.records())[:limit]
    out.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    missing = 0
    for group in group_by_image((record, "") for record in records):
        first = group[0][0]
        src = first.image if in_place else f"images/{image_name(first)}"
        if not in_place:
            target = out / src
            if not target.exists():  # a rerun of the demo keeps the images it already copied
                try:
                    data = source.image_bytes(first)
                except (KeyError, OSError):  # a record naming an image that is not there: left out, counted
                    missing += len(group)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        items += [(record, src) for record, _ in group]
    note = f"; {missing} pair(s) left out, their image is missing" if missing else ""
    (out / "index.html").write_text(render(items, title, f"from {source.description}{note}"), encoding="utf-8")
    return len(items)


def from_jsonl_folder(folder: Path, out: Path, limit: int) -> int:
    """A gallery of a `quilt process` output folder (images are referenced in place when out == folder)."""
    in_place = Path(out).resolve() == Path(folder).resolve()
    return write_page(FolderSource(folder), Path(out), limit, "quilt pairs", in_place=in_place)


def from_bucket(store: ObjectStore, out: Path, limit: int, prefix: str = keys.PAIR_RECORDS_PREFIX) -> int:
    """A gallery of the newest pairs in the bucket; their images are copied next to the page."""
    return write_page(BucketSource(store, prefix), Path(out), limit, "quilt pairs")
