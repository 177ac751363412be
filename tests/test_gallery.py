"""`quilt gallery`: a page that shows each pair's image and text."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from quilt import gallery
from quilt.cli import main
from quilt.records import PairRecord
from quilt.stages.imaging import encode_jpeg
from quilt.store import LocalStore, put_json
from quilt.writers import JsonlPairWriter


def _record(n: int, text: str) -> PairRecord:
    return PairRecord(pair_id=f"p-{n}", video_id="v-1", source="x.mp4", image=f"frames/v-1/{n}.jpg",
                      t_start=float(n), t_end=n + 3.0, text=text, asr_text=text.replace("bile", "myel"),
                      histo_score=0.9, models={}, created_at=f"2026-11-25T00:00:0{n}Z")


def _jpeg(n: int) -> bytes:
    return encode_jpeg(np.full((24, 32, 3), 40 * n, dtype=np.uint8))


def test_gallery_of_a_process_folder(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with JsonlPairWriter(folder) as writer:
        writer.write(_record(1, "Hepatocytes around the bile duct."), _jpeg(1))
        writer.write(_record(2, "Necrosis <with> lymphocytes & debris."), _jpeg(2))
    out = tmp_path / "page"
    assert main(["gallery", "--from", str(folder), "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "Hepatocytes around the bile duct." in page and "myel duct" in page  # what Whisper heard
    assert "Necrosis &lt;with&gt; lymphocytes &amp; debris." in page  # escaped, never raw HTML
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 2 and all((out / src).is_file() for src in sources)


def test_gallery_of_the_bucket_newest_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    for n in (1, 2, 3):
        record = _record(n, f"Slide {n} shows glandular epithelium.")
        store.put_bytes(record.image, _jpeg(n))
        put_json(store, f"pairs/records/v-1/{record.pair_id}.json", record.to_dict())
    out = tmp_path / "page"
    assert gallery.from_bucket(store, out, limit=2) == 2
    page = (out / "index.html").read_text()
    assert page.index("Slide 3") < page.index("Slide 2") and "Slide 1" not in page
    assert (out / "images" / "p-3.jpg").read_bytes() == _jpeg(3)
