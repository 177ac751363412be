"""The pair writers: a jsonl folder and WebDataset shards with a Parquet index."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from quilt.adapters.store import LocalStore
from quilt.adapters.writers import JsonlPairWriter, WebDatasetShardWriter, read_pairs_jsonl
from quilt.core.records import PairRecord


def record(n: int) -> PairRecord:
    return PairRecord(
        pair_id=f"p-{n:020d}", video_id="v-1", source="test.mp4", image=f"frames/{n}.jpg",
        t_start=float(n), t_end=n + 1.0, text=f"Granuloma number {n}.", asr_text=f"granuloma number {n}",
        histo_score=0.5, models={"asr": "whisper-test"}, created_at="2024-01-01T00:00:00Z",
    )


def jpeg(n: int) -> bytes:
    return b"\xff\xd8fake-jpeg-" + str(n).encode() + b"\xff\xd9"


def test_jsonl_writer_rerun_does_not_duplicate(tmp_path: Path) -> None:
    with JsonlPairWriter(tmp_path) as writer:
        for n in range(3):
            writer.write(record(n), jpeg(n))
        writer.write(record(1), jpeg(1))  # same id twice in one run
    with JsonlPairWriter(tmp_path) as writer:  # the rerun
        for n in range(4):
            writer.write(record(n), jpeg(n))
    pairs = read_pairs_jsonl(tmp_path / "pairs.jsonl")
    assert [p.pair_id for p in pairs] == [record(n).pair_id for n in range(4)]
    for n, pair in enumerate(pairs):
        assert pair.image == f"images/{pair.pair_id}.jpg"
        assert (tmp_path / pair.image).read_bytes() == jpeg(n)
        assert pair.text == record(n).text and pair.models == {"asr": "whisper-test"}


def test_jsonl_writer_drops_a_half_written_line(tmp_path: Path) -> None:
    with JsonlPairWriter(tmp_path) as writer:
        writer.write(record(0), jpeg(0))
    with (tmp_path / "pairs.jsonl").open("a") as handle:
        handle.write('{"pair_id": "p-broken", "vid')  # killed mid-write
    with JsonlPairWriter(tmp_path) as writer:
        writer.write(record(1), jpeg(1))
    assert [p.pair_id for p in read_pairs_jsonl(tmp_path / "pairs.jsonl")] == [record(0).pair_id,
                                                                                record(1).pair_id]


@pytest.fixture()
def pq() -> ModuleType:
    # Only the shard writer needs pyarrow; a broken pyarrow/numpy pairing skips these, loudly.
    return pytest.importorskip("pyarrow.parquet", exc_type=ImportError)


def write_shards(store: LocalStore, count: int, max_pairs: int = 2) -> WebDatasetShardWriter:
    writer = WebDatasetShardWriter(store, "out", "vid1", max_pairs=max_pairs)
    with writer:
        for n in range(count):
            writer.write(record(n), jpeg(n))
    return writer


def test_webdataset_shards_and_index(tmp_path: Path, pq: ModuleType) -> None:
    store = LocalStore(tmp_path)
    writer = write_shards(store, 5)
    shards = sorted(store.list("out/shards/"))
    assert shards == writer.shard_keys == [f"out/shards/vid1-{i:05d}.tar" for i in range(3)]
    seen: dict[str, bytes] = {}
    for key in shards:
        with tarfile.open(fileobj=io.BytesIO(store.get_bytes(key))) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member)
                assert data is not None
                seen[member.name] = data.read()
    assert len(seen) == 5 * 3
    for n in range(5):
        key = record(n).pair_id
        assert seen[key + ".jpg"] == jpeg(n)
        assert seen[key + ".txt"].decode() == record(n).text
        assert json.loads(seen[key + ".json"])["pair_id"] == key
    table = pq.read_table(io.BytesIO(store.get_bytes("out/index/vid1.parquet")))
    assert table.num_rows == 5
    rows = table.to_pylist()
    assert [r["pair_id"] for r in rows] == [record(n).pair_id for n in range(5)]
    assert rows[4]["shard"] == "out/shards/vid1-00002.tar" and rows[4]["member"] == record(4).pair_id + ".jpg"
    assert dict(rows[0]["models"]) == {"asr": "whisper-test"}


def test_webdataset_retry_overwrites_instead_of_duplicating(tmp_path: Path, pq: ModuleType) -> None:
    store = LocalStore(tmp_path)
    write_shards(store, 5)
    first = store.get_bytes("out/shards/vid1-00000.tar")
    write_shards(store, 3)  # a retry that produced fewer pairs
    assert sorted(store.list("out/shards/")) == ["out/shards/vid1-00000.tar", "out/shards/vid1-00001.tar"]
    assert store.get_bytes("out/shards/vid1-00000.tar") == first  # byte-identical rewrite
    assert pq.read_table(io.BytesIO(store.get_bytes("out/index/vid1.parquet"))).num_rows == 3


def test_webdataset_empty_run_writes_an_empty_index(tmp_path: Path, pq: ModuleType) -> None:
    store = LocalStore(tmp_path)
    write_shards(store, 0)
    assert list(store.list("out/shards/")) == []
    assert pq.read_table(io.BytesIO(store.get_bytes("out/index/vid1.parquet"))).num_rows == 0


def rich_record(n: int, image_id: str) -> PairRecord:
    return replace(record(n), image_id=image_id, align_score=0.75, corrections={"granny loma": "granuloma"},
                   entities=[{"text": "granuloma", "category": "finding"}], impurity_tags=["ui_chrome"],
                   crop=[1, 2, 30, 40], magnification="medium", sub_pathology=["pulmonary", "hematopathology"],
                   screen_text="Granulomatous inflammation\nLung")


def test_jsonl_texts_of_one_image_share_its_file(tmp_path: Path) -> None:
    with JsonlPairWriter(tmp_path) as writer:
        writer.write(rich_record(0, "v-1-c00001000-00005000"), jpeg(0))
        writer.write(rich_record(1, "v-1-c00001000-00005000"), jpeg(0))
        writer.write(rich_record(2, "../escape"), jpeg(2))  # not a plain file name: falls back to the pair id
    first, second, third = read_pairs_jsonl(tmp_path / "pairs.jsonl")
    assert first.image == second.image == "images/v-1-c00001000-00005000.jpg"
    assert third.image == f"images/{third.pair_id}.jpg"
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(
        ["v-1-c00001000-00005000.jpg", f"{third.pair_id}.jpg"])
    assert replace(first, image="") == replace(rich_record(0, "v-1-c00001000-00005000"), image="")


def test_shards_and_index_carry_the_pair_metadata(tmp_path: Path, pq: ModuleType) -> None:
    store = LocalStore(tmp_path)
    rich = rich_record(0, "img-a")
    with WebDatasetShardWriter(store, "out", "vid1") as writer:
        writer.write(rich, jpeg(0))
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes("out/shards/vid1-00000.tar"))) as tar:
        member = tar.extractfile(rich.pair_id + ".json")
        assert member is not None
        assert PairRecord.from_dict(json.loads(member.read())) == rich
    [row] = pq.read_table(io.BytesIO(store.get_bytes("out/index/vid1.parquet"))).to_pylist()
    assert (row["image_id"], row["align_score"], row["magnification"]) == ("img-a", 0.75, "medium")
    assert dict(row["corrections"]) == {"granny loma": "granuloma"}
    assert row["entities"] == [{"text": "granuloma", "category": "finding"}]
    assert (row["impurity_tags"], row["crop"], row["sub_pathology"]) == (
        ["ui_chrome"], [1, 2, 30, 40], ["pulmonary", "hematopathology"])
    assert row["screen_text"] == "Granulomatous inflammation\nLung"
