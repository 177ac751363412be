"""`quilt gallery`: a page that shows each pair's image, text, corrections, scores and tags; static or live."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quilt.adapters.store import LocalStore, put_json
from quilt.adapters.writers import JsonlPairWriter
from quilt.cli.main import main
from quilt.core.imaging import encode_jpeg
from quilt.core.records import PairRecord
from quilt.gallery import build as gallery
from quilt.gallery.markup import clock, marked_heard, marked_text
from quilt.gallery.server import LiveGallery, make_server
from quilt.gallery.sources import BucketSource, FolderSource


def _record(n: int, text: str, **quality: object) -> PairRecord:
    return PairRecord(pair_id=f"p-{n}", video_id="v-1", source="x.mp4", image=f"frames/v-1/{n}.jpg",
                      t_start=float(n), t_end=n + 3.0, text=text, asr_text=text.replace("bile", "myel"),
                      histo_score=0.9, models={}, created_at=f"2026-11-25T00:00:0{n}Z", **quality)  # type: ignore[arg-type]


def _jpeg(n: int) -> bytes:
    return encode_jpeg(np.full((24, 32, 3), 40 * n, dtype=np.uint8))


def _store_pair(store: LocalStore, record: PairRecord, n: int) -> None:
    store.put_bytes(record.image, _jpeg(n))
    put_json(store, f"pairs/records/{record.video_id}/{record.pair_id}.json", record.to_dict())


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
        _store_pair(store, _record(n, f"Slide {n} shows glandular epithelium."), n)
    out = tmp_path / "page"
    assert gallery.from_bucket(store, out, limit=2) == 2
    page = (out / "index.html").read_text()
    assert page.index("Slide 3") < page.index("Slide 2") and "Slide 1" not in page
    assert (out / "images" / "p-3.jpg").read_bytes() == _jpeg(3)


def test_card_shows_corrections_entities_scores_and_tags() -> None:
    entities = [{"text": "bile duct", "category": "tissue"}, {"text": "proliferation", "category": "finding"}]
    record = _record(1, "The bile duct shows ductal proliferation.", image_id="v-1-c1", align_score=0.82,
                     corrections={"myel duct": "bile duct"}, entities=entities,
                     impurity_tags=["text_overlay"], magnification="high", sub_pathology=["liver", "soft tissue"])
    record.t_start, record.t_end = 754.2, 761.0
    page = gallery.render([(record, "images/a.jpg")], "pairs")
    assert ('<mark class="fix" title="heard: myel duct"><span class="ent ent-tissue" title="tissue">bile duct'
            '</span></mark>') in page
    assert '<span class="ent ent-finding" title="finding">proliferation</span>' in page
    assert "ductal" in page and "ent-tissue\" title=\"tissue\">duct<" not in page  # whole words only
    assert '<s class="misheard" title="written: bile duct">myel duct</s>' in page
    assert "12:34–12:41" in page and 'title="align 0.82"' in page and 'title="histology 0.90"' in page
    assert '<span class="chip impure">text overlay</span>' in page and "mag-high" in page
    tags = re.search(r'data-tags="([^"]*)"', page)
    assert tags and json.loads(tags.group(1).replace("&quot;", '"')) == [
        "text_overlay", "mag:high", "liver", "soft tissue"]
    assert 'data-tag="clean"' not in page  # no pair without impurities: no "clean" filter to offer
    assert 'data-tag="soft tissue"' in page and 'data-tag="mag:high"' in page and '<option value="v-1">' in page


def test_every_record_field_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    record = _record(1, f"Look {evil} here.", image_id='"><x-image-id>', corrections={evil: "here"},
                     entities=[{"text": "Look", "category": '"onmouseover="x'}], impurity_tags=[evil],
                     magnification='"><x-mag>', sub_pathology=[evil])
    record = replace(record, video_id=f'v"{evil}', pair_id="p'<x-pair-id>", asr_text=f"Look {evil} there.")
    page = gallery.render([(record, '"><img src=x onerror=alert(1)>')], "pairs")
    assert page.count("<script") == 1  # the page's own script only
    assert not re.search(r"<x-|<img src=x", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'class="ent ent-other"' in page and 'onmouseover="x' not in page  # category never becomes markup


def test_texts_of_one_image_share_a_card(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    first = replace(_record(1, "Portal triad.", image_id="v-1-c1"), image="frames/v-1/c1.jpg")
    second = replace(_record(2, "Hepatic artery.", image_id="v-1-c1"), image="frames/v-1/c1.jpg")
    other = _record(3, "Bridging fibrosis.", image_id="v-1-c2")
    for n, record in enumerate((first, second, other), start=1):
        _store_pair(store, record, n)
    out = tmp_path / "page"
    assert gallery.from_bucket(store, out, limit=10) == 3
    page = (out / "index.html").read_text()
    cards = page.split("<article")[1:]
    assert len(cards) == 2 and "3 texts" not in page and "2 texts" in page
    shared = next(card for card in cards if "Portal triad." in card)
    assert "Hepatic artery." in shared and shared.index("Portal triad.") < shared.index("Hepatic artery.")
    assert sorted(p.name for p in (out / "images").iterdir()) == ["v-1-c1.jpg", "v-1-c2.jpg"]


def test_a_correction_straddled_by_an_entity_stays_well_formed() -> None:
    record = _record(1, "Hepatic steatosis here.", corrections={"static ptosis": "steatosis here"},
                     entities=[{"text": "hepatic steatosis", "category": "diagnosis"}])
    text = marked_text(record)
    assert text == ('<span class="ent ent-diagnosis" title="diagnosis">Hepatic </span>'
                    '<mark class="fix" title="heard: static ptosis"><span class="ent ent-diagnosis" '
                    'title="diagnosis">steatosis</span> here</mark>.')
    assert marked_heard(replace(record, asr_text="Hepatic static ptosis.")) == (
        'Hepatic <s class="misheard" title="written: steatosis here">static ptosis</s>.')


def test_clock() -> None:
    assert [clock(s) for s in (0.0, 75.4, 599.9, 3725.0, -3.0, float("nan"))] == [
        "00:00", "01:15", "09:59", "1:02:05", "00:00", "00:00"]


def test_folder_source_reads_the_complete_lines_of_a_file_being_written(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    assert FolderSource(folder).records() == []  # no pairs.jsonl yet
    with JsonlPairWriter(folder) as writer:
        writer.write(_record(1, "Glands."), _jpeg(1))
    with (folder / "pairs.jsonl").open("a") as handle:
        handle.write('{"pair_id": "p-2", "vid')
    source = FolderSource(folder)
    assert [r.pair_id for r in source.records()] == ["p-1"]
    assert source.image_bytes(source.records()[0]) == _jpeg(1)
    (tmp_path / "outside.jpg").write_bytes(_jpeg(2))  # exists, but a record may not reach out of its folder
    with pytest.raises(KeyError):
        source.image_bytes(replace(_record(9, "x"), image="../outside.jpg"))


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[tuple[LocalStore, str]]:
    store = LocalStore(tmp_path / "bucket")
    server = make_server(LiveGallery(BucketSource(store), limit=10), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield store, f"http://{server.server_address[0]!s}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), ""


def test_served_page_rereads_the_store_and_serves_images_from_it(live: tuple[LocalStore, str]) -> None:
    store, url = live
    assert url.startswith("http://127.0.0.1:")  # loopback only
    _store_pair(store, _record(1, "Slide one."), 1)
    status, body, kind = _get(url + "/?video=v-1&tag=clean")
    assert status == 200 and kind.startswith("text/html") and b"Slide one." in body
    _store_pair(store, _record(2, "Slide two, published after the first load."), 2)
    page = _get(url + "/")[1].decode()
    assert "Slide one." in page and "published after the first load" in page
    for src in re.findall(r'<img src="([^"]+)"', page):
        status, data, kind = _get(f"{url}/{src}")
        assert status == 200 and kind == "image/jpeg" and data in (_jpeg(1), _jpeg(2))
    assert _get(url + "/images/p-2.jpg")[1] == _jpeg(2)
    store.put_bytes("frames/v-1/2.jpg", _jpeg(5))  # a replay rewrote the image: the server shows the store's bytes
    assert _get(url + "/images/p-2.jpg")[1] == _jpeg(5)
    assert _get(url + "/images/unknown.jpg")[0] == 404
    assert _get(url + "/images/..%2F..%2Fpairs%2Frecords%2Fv-1%2Fp-1.json")[0] == 404
    assert _get(url + "/etc/passwd")[0] == 404


def test_a_bad_record_or_a_missing_image_never_blanks_the_gallery(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    for n in (1, 2):
        _store_pair(store, _record(n, f"Slide {n} shows glandular epithelium."), n)
    numeric = _record(3, "Slide 3 has a numeric created_at.").to_dict() | {"created_at": 1764547200}
    put_json(store, "pairs/records/v-1/p-3.json", numeric)
    put_json(store, "pairs/records/v-1/p-4.json", _record(4, "Slide 4 names a missing image.").to_dict())
    out = tmp_path / "page"
    assert gallery.from_bucket(store, out, limit=10) == 2
    page = (out / "index.html").read_text()
    assert "Slide 1" in page and "Slide 2" in page and "Slide 3" not in page and "Slide 4" not in page
    assert "1 pair(s) left out, their image is missing" in page
    # The live page reads the same records: the numeric one is skipped there too.
    assert [r.pair_id for r in BucketSource(store).records()].count("p-3") == 0


def test_records_with_fields_of_the_wrong_type_are_refused_by_name() -> None:
    good = _record(1, "Fine.").to_dict()
    assert PairRecord.from_dict(good) == _record(1, "Fine.")
    for field, value in [("created_at", 12), ("t_start", "0"), ("t_end", float("nan")), ("histo_score", True),
                         ("models", {"asr": 1}), ("impurity_tags", "person"), ("crop", [1, 2, 3]),
                         ("entities", [{"text": 1}]), ("screen_text", None)]:
        with pytest.raises(ValueError, match=field):
            PairRecord.from_dict(good | {field: value})
