"""A static HTML page of image-text pairs, to look at what the pipeline made."""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterable
from pathlib import Path

from quilt.records import PairRecord
from quilt.store import ObjectStore, get_json

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #fafafa; color: #222; }
h1 { font-size: 1.3rem; } .meta { color: #666; font-size: .8rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1rem; }
.pair { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .6rem; }
.pair img { width: 100%; border-radius: 4px; }
.text { margin: .5rem 0 .3rem; } .asr { color: #777; font-size: .85rem; }
.asr::before { content: "heard: "; font-style: italic; }
"""


def _card(record: PairRecord, image_src: str) -> str:
    e = html.escape
    asr = f'<div class="asr">{e(record.asr_text)}</div>' if record.asr_text != record.text else ""
    return (f'<div class="pair"><img src="{e(image_src)}" alt="{e(record.pair_id)}" loading="lazy">'
            f'<div class="text">{e(record.text)}</div>{asr}'
            f'<div class="meta">{e(record.video_id)} · {record.t_start:.1f}–{record.t_end:.1f} s · '
            f'histology {record.histo_score:.2f}</div></div>')


def newest_first(records: list[PairRecord]) -> list[PairRecord]:
    """Newest video first; within a video, in the order it was shown."""
    in_order = sorted(records, key=lambda r: (r.video_id, r.t_start))
    return sorted(in_order, key=lambda r: r.created_at, reverse=True)


def render(records: Iterable[tuple[PairRecord, str]], title: str) -> str:
    cards = [_card(record, src) for record, src in records]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='meta'>{len(cards)} pairs, newest first</p><div class='grid'>{''.join(cards)}</div>"
            "</body></html>")


def from_jsonl_folder(folder: Path, out: Path, limit: int) -> int:
    """A gallery of a `quilt process` output folder (images are referenced in place when out == folder)."""
    from quilt.writers import read_pairs_jsonl

    records = newest_first(read_pairs_jsonl(folder / "pairs.jsonl"))[:limit]
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for record in records:
        if out.resolve() != folder.resolve():
            target = out / "images" / Path(record.image).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / record.image, target)
        items.append((record, f"images/{Path(record.image).name}"))
    (out / "index.html").write_text(render(items, f"quilt pairs from {folder}"), encoding="utf-8")
    return len(items)


def from_bucket(store: ObjectStore, out: Path, limit: int, prefix: str = "pairs/records/") -> int:
    """A gallery of the newest pairs in the bucket; their images are copied next to the page."""
    records = [PairRecord.from_dict(get_json(store, key)) for key in store.list(prefix)]
    records = newest_first(records)[:limit]
    (out / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for record in records:
        name = f"{record.pair_id}.jpg"
        target = out / "images" / name
        if not target.exists():
            target.write_bytes(store.get_bytes(record.image))
        items.append((record, f"images/{name}"))
    (out / "index.html").write_text(render(items, "quilt pairs"), encoding="utf-8")
    return len(items)
