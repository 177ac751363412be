"""`quilt takedown`: every step on a bucket laid out by the real services, shard writer and indexes.

Three videos go through the real fetcher, decoder (decoding itself stubbed), ASR and histology filter
adapters (Triton stubbed) and the real aligner: C first shows picture X; A shows P, Q and X again (so A
has a pair on C's image); B shows R and P again (so B has a pair on A's image). A is taken down.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import structlog

from quilt.adapters.config import Settings
from quilt.adapters.status import STAGES, write_status
from quilt.adapters.store import LocalStore, ObjectStore, get_json
from quilt.adapters.wire import pair_from_pb
from quilt.adapters.writers import WebDatasetShardWriter
from quilt.cli import takedown_cmd
from quilt.core import keys, topics
from quilt.core.imaging import phash
from quilt.core.records import PairRecord
from quilt.core.types import AudioWindow, FrameChunk, Segment, VideoFrames
from quilt.ops.search import build_index, load_index
from quilt.ops.submit import build_request
from quilt.ops.takedown import (
    TakedownError,
    image_owner,
    marker_key,
    takedown,
    taken_down_videos,
    tombstone_of,
    video_prefixes,
    withdrawn,
)
from quilt.stages import decode as decode_stage
from quilt.stages.align.image_texts import ImageTexts
from quilt.stages.decode.phash_index import PhashIndex
from quilt.testing.slides import histology_slide
from quilt.testing.tissue_pairs import tissue_pairs
from quiltpb.v1 import messages_pb2 as pb
from services import aligner, asr, decoder, fetcher, histo_filter
from services.contract import Context
from tests.training.test_training import tiny_raw
from training.checkpoint import latest_name, trained_audit
from training.config import parse_config
from training.job import TrainingJob
from training.sources import FolderPairSource, write_folder_tombstone, write_folder_topic
from training.stream import Reservoir, TrainPair

# -- a bucket laid out by the real services -------------------------------------------------------------


class StubScorer:
    """Stands in for Triton's histology classifier (tested in test_triton.py): every frame is tissue."""

    name = "histo-test"

    def score(self, images: list[np.ndarray]) -> list[float]:
        return [0.9 for _ in images]


class StubTranscriber:
    name = "whisper-test"

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000,
                   initial_prompt: str | None = None) -> list[Segment]:
        return [Segment(0.1, 0.9, "Here we see the liver with hepatocytes arranged in cords around the vein.", [])]


class StubClip:
    """Stands in for the served CLIP (tested in test_promote_search.py): colour statistics as the embedding."""

    def served_version(self) -> int:
        return 2

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        rows = np.array([[*np.asarray(i, np.float32).reshape(-1, 3).mean(0), np.asarray(i, np.float32).std()]
                         for i in images], np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _ctx(store: ObjectStore) -> Context:
    return Context(settings=Settings(), store=store, log=structlog.get_logger())


def ingest_video(store: ObjectStore, folder: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                 shown: list[tuple[np.ndarray, str]]) -> tuple[str, list[PairRecord]]:
    """One lecture through fetcher, decoder, ASR, filter and aligner; `shown` = (picture, what is said over it).

    Returns the video id and the pairs the aligner produced on the pair topic.
    """
    path = folder / f"{name}.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + name.encode())  # binary, like a real container
    request = build_request(str(path))
    video_id = request.video_id
    [fetched] = fetcher.handle(_ctx(store), topics.REQUESTED, request).outputs
    chunks = [FrameChunk(n * 10.0, n * 10.0 + 8.0, image, phash=phash(image)) for n, (image, _) in enumerate(shown)]
    frames = VideoFrames(len(shown) * 10.0, chunks, True)
    monkeypatch.setattr(decode_stage, "decode_frames", lambda _path, params=None, limits=None: frames)
    monkeypatch.setattr(decode_stage, "iter_audio",
                        lambda *_args: iter([AudioWindow(0.0, np.zeros(1600, np.float32))]))
    [decoded] = decoder.handle(_ctx(store), topics.FETCHED, fetched.message).outputs
    monkeypatch.setattr(asr, "TritonTranscriber", lambda _url: StubTranscriber())
    monkeypatch.setattr(histo_filter, "TritonHistoScorer", lambda _url: StubScorer())
    asr_ctx, filter_ctx = _ctx(store), _ctx(store)
    asr.setup(asr_ctx)
    histo_filter.setup(filter_ctx)
    [transcript] = asr.handle(asr_ctx, topics.DECODED, decoded.message).outputs
    [filtered] = histo_filter.handle(filter_ctx, topics.DECODED, decoded.message).outputs
    sentences = [pb.Sentence(start=n * 10.0 + 1, end=n * 10.0 + 6, text=text, asr_text=text, medical=True)
                 for n, (_, text) in enumerate(shown)]
    denoised = pb.DenoisedText(video_id=video_id, source=request.source, sentences=sentences,
                               models={"asr": transcript.message.model})
    aligner.handle(_ctx(store), topics.DENOISED, denoised)
    result = aligner.handle(_ctx(store), topics.FILTERED, filtered.message)
    for stage in STAGES:
        write_status(store, video_id, stage, "done")
    return video_id, [pair_from_pb(out.message) for out in result.outputs]  # type: ignore[arg-type]


@dataclass
class Layout:
    store: ObjectStore
    a: str
    b: str
    c: str
    pairs: dict[str, list[PairRecord]]  # per video, as produced on the pair topic
    pictures: dict[str, np.ndarray]

    def pair_on(self, video: str, owner: str) -> PairRecord:
        [found] = [p for p in self.pairs[video] if image_owner(p.image) == owner]
        return found


def three_videos(store: ObjectStore, folder: Path, monkeypatch: pytest.MonkeyPatch, seed: int = 11) -> Layout:
    pictures = dict(zip("XPQR", (histology_slide(seed + n) for n in range(4)), strict=True))
    x, p, q, r = pictures.values()
    c, c_pairs = ingest_video(store, folder, monkeypatch, "c", [
        (x, "The portal tract shows a bile duct and a hepatic artery branch.")])
    a, a_pairs = ingest_video(store, folder, monkeypatch, "a", [
        (p, "Hepatocytes are arranged in cords around the central vein."),
        (q, "Kupffer cells line the sinusoids of the liver lobule."),
        (x, "Here again a portal triad with lymphocytes infiltrating the interface.")])
    b, b_pairs = ingest_video(store, folder, monkeypatch, "b", [
        (r, "Renal glomeruli with podocytes and mesangial cells are visible."),
        (p, "Steatosis is seen as large fat droplets pushing the nucleus aside.")])
    layout = Layout(store, a, b, c, {a: a_pairs, b: b_pairs, c: c_pairs}, pictures)
    assert [len(layout.pairs[v]) for v in (c, a, b)] == [1, 3, 2]
    assert layout.pair_on(a, c).image_id.startswith(c) and layout.pair_on(b, a).image_id.startswith(a)
    return layout


@pytest.fixture()
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    store = LocalStore(tmp_path / "bucket")
    found = three_videos(store, tmp_path, monkeypatch)
    records = [p for pairs in found.pairs.values() for p in pairs]
    build_index(store, StubClip(), records)  # type: ignore[arg-type]
    store.put_bytes("index/clip/1/pairs.json", json.dumps([  # an older version's index, a subset
        {"pair_id": p.pair_id, "text": p.text, "image": p.image, "labels": []} for p in records[:4]]).encode())
    buffer = io.BytesIO()
    np.save(buffer, np.eye(4, dtype=np.float32))
    store.put_bytes("index/clip/1/embeddings.npy", buffer.getvalue())
    return found


def snapshot(store: ObjectStore) -> dict[str, bytes]:
    return {key: store.get_bytes(key) for key in store.list("")}


def shard_pairs(store: ObjectStore, video_id: str) -> list[tuple[str, bytes]]:
    """(pair id, image bytes) of every pair in the video's shards, in order."""
    out = []
    for key in sorted(store.list(f"pairs/shards/{video_id}-")):
        with tarfile.open(fileobj=io.BytesIO(store.get_bytes(key))) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".jpg"):
                    out.append((member.name.removesuffix(".jpg"), tar.extractfile(member).read()))  # type: ignore[union-attr]
    return out


def index_rows(store: ObjectStore, video_id: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return list(pq.read_table(io.BytesIO(store.get_bytes(f"pairs/index/{video_id}.parquet"))).to_pylist())


def assert_taken_down(layout: Layout, before: dict[str, bytes]) -> None:
    """Nothing of A is left; B lost exactly its pair on A's picture; everything else is as it was."""
    store, a, b = layout.store, layout.a, layout.b
    after = snapshot(store)
    marker = marker_key(a)
    for key, data in after.items():
        if key != marker:
            assert a not in key and a.encode() not in data, key
    masked = layout.pair_on(b, a)
    kept = [p for p in layout.pairs[b] if p is not masked]
    assert [pid for pid, _ in shard_pairs(store, b)] == [p.pair_id for p in kept]
    assert [row["pair_id"] for row in index_rows(store, b)] == [p.pair_id for p in kept]
    assert not store.exists(keys.pair_key(b, masked.pair_id))
    assert all(store.exists(keys.pair_key(b, p.pair_id)) for p in kept)
    changed = {k for k in before if k in after and before[k] != after[k]}
    assert all(k.startswith((f"pairs/shards/{b}-", f"pairs/index/{b}.", "index/clip/", keys.join_key(b, "frames")))
               for k in changed), changed
    # B's join state still has the chunk (its words stay dropped on a replay), now rejected and imageless.
    frames = pb.FilteredFrames.FromString(store.get_bytes(keys.join_key(b, "frames")))
    assert [(c.keep, bool(c.chunk.image_key), bool(c.chunk.duplicate_of)) for c in frames.chunks] == [
        (True, True, False), (False, False, False)]
    assert get_json(store, marker)["state"] == "done"


# -- the takedown -----------------------------------------------------------------------------------------


def test_takedown_removes_every_trace_of_the_video_and_nothing_else(layout: Layout) -> None:
    store, a = layout.store, layout.a
    before = snapshot(store)
    own = [k for k in before if a in k]
    published: list[str] = []

    def publish(video_id: str) -> None:  # the marker is durable before the tombstone goes out
        assert get_json(store, marker_key(video_id))["state"] == "started" and store.exists(f"videos/{a}/source.mp4")
        published.append(video_id)

    report = takedown(store, a, reason="the owner withdrew the lecture", publish=publish)

    assert published == [a] and report.tombstone_published
    assert_taken_down(layout, before)
    assert report.objects_deleted == len(own) == sum(report.deleted_by_prefix.values())
    prefixes = set(report.deleted_by_prefix)
    assert prefixes == {f"videos/{a}/", f"frames/{a}/", f"audio/{a}/", f"transcripts/{a}/", f"pairs/records/{a}/",
                        f"state/aligner/{a}/", f"status/{a}/", f"pairs/shards/{a}-NNNNN.tar",
                        f"pairs/index/{a}.parquet"}
    assert set(video_prefixes(a)) <= prefixes
    assert report.pairs_deleted == 3 and report.pairs_masked_elsewhere == 1 and report.shards_rewritten == 1
    assert report.masked_elsewhere == {layout.b: [layout.pair_on(layout.b, a).pair_id]}
    marker = get_json(store, marker_key(a))
    assert marker["reason"] == "the owner withdrew the lecture" and marker["requested_at"]
    assert marker["counts"] == report.counts() and marker["tombstone_published"]
    assert taken_down_videos(store) == {a}


def test_other_videos_pairs_on_its_pictures_are_masked_out_of_their_shards_and_index(layout: Layout) -> None:
    store, a, b = layout.store, layout.a, layout.b
    masked = layout.pair_on(b, a)
    [kept] = [p for p in layout.pairs[b] if p is not masked]
    images_before = dict(shard_pairs(store, b))
    assert set(images_before) == {kept.pair_id, masked.pair_id}

    takedown(store, a)

    assert dict(shard_pairs(store, b)) == {kept.pair_id: images_before[kept.pair_id]}  # same bytes, one member less
    [row] = index_rows(store, b)
    assert (row["pair_id"], row["shard"], row["member"]) == (kept.pair_id, f"pairs/shards/{b}-00000.tar",
                                                              f"{kept.pair_id}.jpg")
    assert PairRecord.from_dict(get_json(store, keys.pair_key(b, kept.pair_id))) == kept
    assert not store.exists(keys.pair_key(b, masked.pair_id))
    # C's pair, on C's own picture that A showed again, is untouched.
    assert [pid for pid, _ in shard_pairs(store, layout.c)] == [layout.pairs[layout.c][0].pair_id]


def test_its_index_entries_go_from_phash_image_texts_and_every_search_index(layout: Layout) -> None:
    store, a, b, c = layout.store, layout.a, layout.b, layout.c
    phashes, texts = PhashIndex(store, keys.PHASH_INDEX_PREFIX), ImageTexts(store)
    a_image = layout.pairs[a][0].image_id  # P, A's own
    c_image = layout.pairs[c][0].image_id  # X, which A showed again
    assert phashes.find(phash(layout.pictures["P"]), video_id="v-new").video_id == a  # type: ignore[union-attr]
    assert len(texts.texts(a_image)) == 2 and len(texts.texts(c_image)) == 2
    withdrawn_ids = {p.pair_id for p in layout.pairs[a]} | {layout.pair_on(b, a).pair_id}
    embeddings, rows = load_index(store, 2)
    by_pair = {row["pair_id"]: embeddings[i] for i, row in enumerate(rows)}

    report = takedown(store, a)

    # A new video showing P again is not pointed at A's deleted frame; X still points at C's.
    assert phashes.find(phash(layout.pictures["P"]), video_id="v-new") is None
    assert phashes.find(phash(layout.pictures["X"]), video_id="v-new").video_id == c  # type: ignore[union-attr]
    assert texts.texts(a_image) == [] and texts.texts(c_image) == [layout.pairs[c][0].text]
    for version in (1, 2):
        embeddings, rows = load_index(store, version)
        assert len(embeddings) == len(rows) and not {r["pair_id"] for r in rows} & withdrawn_ids
    embeddings, rows = load_index(store, 2)
    assert [r["pair_id"] for r in rows] == [p for p in by_pair if p not in withdrawn_ids]
    assert all(np.array_equal(embeddings[i], by_pair[r["pair_id"]]) for i, r in enumerate(rows))
    assert get_json(store, "index/clip/latest.json")["count"] == len(rows) == 2
    phash_objects = 7 * 2  # two pictures of A's own, one object per band
    text_entries = 2 + 1 + 1  # P's (A's and B's), Q's, and A's under C's X
    search_rows = 4 + 3  # version 2: A's three and B's masked one; version 1: A's three
    assert report.index_entries_removed == phash_objects + text_entries + search_rows


def test_running_it_again_is_harmless_and_a_tombstone_goes_out_once(layout: Layout) -> None:
    store, a = layout.store, layout.a
    before = snapshot(store)
    first = takedown(store, a, reason="withdrawn")  # no broker: the marker remembers the tombstone is owed
    assert not first.tombstone_published and not get_json(store, marker_key(a))["tombstone_published"]
    published: list[str] = []
    second = takedown(store, a, publish=published.append)
    third = takedown(store, a, publish=published.append)
    assert published == [a] and second.tombstone_published and third.tombstone_published
    assert second.already_done and second.counts() == dict.fromkeys(second.counts(), 0)
    assert_taken_down(layout, before)
    marker = get_json(store, marker_key(a))
    assert marker["reason"] == "withdrawn" and marker["counts"] == first.counts()  # totals over the runs


class CrashingStore:
    """A LocalStore that dies (like kill -9) at the n-th delete, or at the first write of one key."""

    def __init__(self, store: LocalStore, deletes: int = -1, write: str = "") -> None:
        self.inner, self.deletes, self.write = store, deletes, write

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def delete(self, key: str) -> None:
        if self.deletes == 0:
            raise SystemExit("crashed")
        self.deletes -= 1
        self.inner.delete(key)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if key == self.write:
            raise SystemExit("crashed")
        self.inner.put_bytes(key, data, content_type)


@pytest.mark.parametrize("crash", ["delete-0", "delete-1", "delete-15", "delete-20", "delete-34", "index-of-b"])
def test_a_rerun_after_a_crash_at_any_step_completes_the_takedown(layout: Layout, crash: str) -> None:
    store = layout.store
    assert isinstance(store, LocalStore)
    before = snapshot(store)
    kind, _, value = crash.partition("-")
    broken = (CrashingStore(store, deletes=int(value)) if kind == "delete"
              else CrashingStore(store, write=f"pairs/index/{layout.b}.parquet"))
    with pytest.raises(SystemExit):
        takedown(broken, layout.a, publish=lambda _video: None)  # type: ignore[arg-type]
    assert get_json(store, marker_key(layout.a))["state"] == "started"  # every component already sees it
    published: list[str] = []
    report = takedown(store, layout.a, publish=published.append)
    assert published == []  # the first run's tombstone is recorded; none is sent twice
    assert report.tombstone_published
    assert_taken_down(layout, before)


def test_masking_across_several_shards_keeps_every_other_pair_even_after_a_crash(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    records = [PairRecord(pair_id=f"p-{n}", video_id="v-b", source="b.mp4", image=f"frames/v-b/c{n}.jpg",
                          t_start=n, t_end=n + 1.0, text=f"text {n}", asr_text=f"text {n}", histo_score=0.9,
                          image_id=f"v-b-c{n}") for n in range(7)]
    records[1].image = records[4].image = "frames/v-a/v-a-c0.jpg"  # B showed A's picture twice
    records[1].image_id = records[4].image_id = "v-a-c0"
    with WebDatasetShardWriter(store, keys.PAIRS_PREFIX, "v-b", max_pairs=2) as writer:
        for record in records:
            writer.write(record, f"jpeg {record.pair_id}".encode())
            ImageTexts(store).add(record)
    store.put_bytes("frames/v-a/v-a-c0.jpg", b"A's picture")
    crashing = CrashingStore(store, write="pairs/shards/v-b-00001.tar")
    with pytest.raises(SystemExit):
        takedown(crashing, "v-a")  # type: ignore[arg-type]
    report = takedown(store, "v-a")
    kept = [r for r in records if "v-a" not in r.image]
    assert shard_pairs(store, "v-b") == [(r.pair_id, f"jpeg {r.pair_id}".encode()) for r in kept]
    assert sorted(store.list("pairs/shards/")) == [f"pairs/shards/v-b-0000{n}.tar" for n in range(3)]  # 2, 2, 1
    rows = index_rows(store, "v-b")
    assert [(r["pair_id"], r["shard"]) for r in rows] == [
        (r.pair_id, f"pairs/shards/v-b-0000{n // 2}.tar") for n, r in enumerate(kept)]
    assert set(report.masked_elsewhere["v-b"]) <= {"p-1", "p-4"}  # what the crashed run had not yet removed
    assert get_json(store, marker_key("v-a"))["footprint"]["masked"] == {"v-b": ["p-1", "p-4"]}


def test_a_video_id_that_is_not_one_is_refused(tmp_path: Path) -> None:
    for bad in ("", "../x", "a/b", "-x"):
        with pytest.raises(TakedownError):
            takedown(LocalStore(tmp_path), bad)


def test_tombstones_and_what_they_withdraw() -> None:
    assert tombstone_of(b"v-1", None) == "v-1"
    assert tombstone_of(b"v-1", b"", [("quilt-tombstone", b"video")]) == "v-1"
    assert tombstone_of(b"v-1", pb.Pair(pair_id="p").SerializeToString()) is None
    assert withdrawn("v-1", "frames/v-2/c.jpg", {"v-1"}) and withdrawn("v-3", "frames/v-1/c-fov.jpg", {"v-1"})
    assert not withdrawn("v-3", "pairs/images/v-1.jpg", {"v-1"}) and not withdrawn("v-1", "x", set())
    old = TrainPair.from_list(["p", "frames/v-1/c.jpg", "text", "liver"])  # a checkpoint written before video ids
    assert old.video_id == "" and old.withdrawn({"v-1"})
    assert TrainPair.from_list(TrainPair("p", "k", "t", "", "v-9").to_list()).withdrawn({"v-9"})


# -- the trainer ------------------------------------------------------------------------------------------


def _interleaved(store: ObjectStore, videos: int = 3, per_video: int = 100) -> list[PairRecord]:
    """tissue_pairs of videos gen-0.. (100 seeds each), interleaved so every video shows up early."""
    records = tissue_pairs(store, range(videos * per_video))
    return [records[v * per_video + n] for n in range(per_video) for v in range(videos)]


def _ids(records: list[PairRecord], video: str) -> set[str]:
    return {r.pair_id for r in records if r.video_id == video}


def test_the_trainer_drops_a_video_from_its_tombstone_on(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    records = _interleaved(store)
    store.put_bytes("frames/gen-1/c0.jpg", store.get_bytes(records[0].image))
    on_its_picture = PairRecord(**{**records[0].to_dict(), "pair_id": "tissue-on-gen-1",
                                   "image": "frames/gen-1/c0.jpg"})
    write_folder_tombstone(tmp_path / "topic", "gen-1", partition=0)
    write_folder_topic(tmp_path / "topic", [*records, on_its_picture])
    config = parse_config(tiny_raw())
    job = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    report = job.run(stop_when_idle=True, poll_timeout_s=0.0)
    counts = report["counts"]
    trained = set(trained_audit(store, config.schedule.checkpoint_prefix)["passes"][0]["ids"])
    assert not trained & (_ids(records, "gen-1") | {"tissue-on-gen-1"}) and trained
    assert counts["tombstones"] == 1 and counts["dropped_takedown"] == 101 and counts["consumed"] == 302
    assert counts["consumed"] == sum(counts[n] for n in ("trained", "held_out", "dropped_quality", "dropped_duplicate",
                                                         "dropped_takedown", "tombstones")) + report["pending"]
    stream = get_json(store, f"ckpt/test/{latest_name(store, 'ckpt/test')}/stream.json")
    assert stream["excluded"] == ["gen-1"]


def test_the_trainer_reads_the_markers_and_purges_what_a_checkpoint_still_holds(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    records = _interleaved(store)
    write_folder_topic(tmp_path / "topic", records)
    config = parse_config(tiny_raw(stream={"holdout_percent": 20}))
    first = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    first.run(max_steps=3, poll_timeout_s=0.0)
    assert any(p.video_id == "gen-1" for p in first.pending + first.reservoir.items + first.held_out)
    trained_before = set(trained_audit(store, "ckpt/test")["passes"][0]["ids"])

    takedown(store, "gen-1", reason="withdrawn")  # nothing of it in per-video folders: only the marker matters here
    again = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    assert again.restore()
    report = again.run(stop_when_idle=True, poll_timeout_s=0.0)

    assert not any(p.video_id == "gen-1" for p in again.pending + again.reservoir.items + again.held_out)
    trained = set(trained_audit(store, "ckpt/test")["passes"][0]["ids"])
    assert (trained - trained_before) and not (trained - trained_before) & _ids(records, "gen-1")
    assert report["counts"]["dropped_takedown"] > 0 and report["counts"]["removed_from_replay"] > 0
    assert get_json(store, f"ckpt/test/{latest_name(store, 'ckpt/test')}/stream.json")["excluded"] == ["gen-1"]


class PairedRank:
    """Rank `rank` of two, whose peer's share of every all_gather is made by `peer` (save/restore only)."""

    def __init__(self, rank: int, peer: Any) -> None:
        import torch

        self.rank, self.world_size, self.device, self.peer = rank, 2, torch.device("cpu"), peer

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_gather(self, value: Any) -> list[Any]:
        mine, theirs = value, self.peer(value)
        return [mine, theirs] if self.rank == 0 else [theirs, mine]

    def close(self) -> None:
        pass


def test_excluded_videos_are_merged_over_the_ranks_and_restored_to_every_rank(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    write_folder_topic(tmp_path / "topic", tissue_pairs(store, range(10)))
    config = parse_config(tiny_raw())
    job = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    job.exclude(["v-seen-by-rank-0"])
    other = job._rank_state()
    other = {**other, "excluded": ["v-seen-by-rank-1"], "pending": [TrainPair("p", "frames/x/c.jpg", "t").to_list()]}
    job.dist = PairedRank(0, lambda value: other if isinstance(value, dict) else value)
    job.save()
    stream = get_json(store, f"ckpt/test/{latest_name(store, 'ckpt/test')}/stream.json")
    assert stream["excluded"] == ["v-seen-by-rank-0", "v-seen-by-rank-1"]
    for rank in (0, 1):
        resumed = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
        resumed.dist = PairedRank(rank, lambda value: value)
        assert resumed.restore() and resumed.excluded == {"v-seen-by-rank-0", "v-seen-by-rank-1"}


def test_a_reservoir_gives_up_withdrawn_pairs() -> None:
    reservoir = Reservoir(10, seed=0)
    for n in range(10):
        reservoir.offer(TrainPair(f"p{n}", f"frames/v-{n % 2}/c.jpg", "t", "", f"v-{n % 2}"))
    assert reservoir.remove(lambda p: p.withdrawn({"v-1"})) == 5
    assert {p.video_id for p in reservoir.items} == {"v-0"} and reservoir.offered == 10


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_under_torchrun_a_tombstone_one_rank_reads_withdraws_the_video_on_every_rank(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.training.test_training import ROOT

    store = LocalStore(tmp_path / "bucket")
    records = tissue_pairs(store, range(300))  # gen-0, gen-1, gen-2 in this order: gen-1's pairs come later
    write_folder_tombstone(tmp_path / "topic", "gen-1", partition=1)  # read by rank 1 only
    write_folder_topic(tmp_path / "topic", records, partitions=3)  # gen-1 also on rank 0's partitions 0 and 2
    (tmp_path / "train.json").write_text(json.dumps(tiny_raw()))
    command = [*TORCHRUN, "-m", "training.train", "--config", str(tmp_path / "train.json"), "--source",
               f"folder:{tmp_path / 'topic'}", "--bucket", str(tmp_path / "bucket"), "--stop-when-idle"]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])["counts"]
    trained = set(trained_audit(store, "ckpt/test")["passes"][0]["ids"])
    assert trained and not trained & _ids(records, "gen-1")
    assert counts["tombstones"] == 1 and counts["dropped_takedown"] == 100 and counts["consumed"] == 301
    assert get_json(store, f"ckpt/test/{latest_name(store, 'ckpt/test')}/stream.json")["excluded"] == ["gen-1"]


# -- the command ------------------------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    return takedown_cmd.configure(argparse.ArgumentParser()).parse_args(list(argv))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_command_dry_run_changes_nothing(layout: Layout, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(layout.store)
    own = [k for k in before if layout.a in k]
    assert takedown_cmd.run(_args(layout.a, "--dry-run", "--bucket-dir", str(tmp_path / "bucket"))) == 0
    assert snapshot(layout.store) == before
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"takedown: video={layout.a} objects={len(own)} pairs=3 masked=1 tombstone=no dry_run=yes")


def test_the_command_asks_first_and_refuses_without_a_terminal(layout: Layout, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(layout.store)
    args = _args(layout.a, "--bucket-dir", str(tmp_path / "bucket"), "--reason", "owner request")
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped: nobody to ask
    assert takedown_cmd.run(args) == 2
    assert "pass --yes" in capsys.readouterr().err and snapshot(layout.store) == before
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda _prompt: "n")
    assert takedown_cmd.run(args) == 1 and snapshot(layout.store) == before
    monkeypatch.setattr("builtins.input", lambda _prompt: "yes")
    assert takedown_cmd.run(args) == 0
    own = [k for k in before if layout.a in k]
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"takedown: video={layout.a} objects={len(own)} pairs=3 masked=1 tombstone=no")
    assert_taken_down(layout, before)
    assert get_json(layout.store, marker_key(layout.a))["reason"] == "owner request"


def test_the_command_knows_no_such_video_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = LocalStore(tmp_path)
    assert takedown_cmd.run(_args("v-0000000000000000", "--yes", "--bucket-dir", str(tmp_path))) == 1
    assert "no such video" in capsys.readouterr().err and not list(store.list(""))
    assert takedown_cmd.run(_args("v-0000000000000000", "--yes", "--force", "--bucket-dir", str(tmp_path))) == 0
    assert capsys.readouterr().out.strip().endswith("objects=0 pairs=0 masked=0 tombstone=no")
    assert taken_down_videos(store) == {"v-0000000000000000"}
    assert takedown_cmd.run(_args("../etc", "--yes", "--bucket-dir", str(tmp_path))) == 2


def test_the_command_registers_on_the_quilt_parser() -> None:
    parser = argparse.ArgumentParser(prog="quilt")
    takedown_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["takedown", "v-1", "--reason", "owner", "--yes", "--dry-run"])
    assert (args.command, args.video_id, args.reason, args.yes, args.dry_run) == ("takedown", "v-1", "owner", True,
                                                                                  True)


def test_the_fetcher_refuses_a_taken_down_video(tmp_path: Path) -> None:
    import structlog

    from quilt.adapters.config import Settings
    from quilt.adapters.store import LocalStore, put_json
    from quilt.core.types import StageError
    from quilt.ops.submit import build_request
    from quilt.ops.takedown import marker_key
    from services import fetcher
    from services.contract import Context

    video = tmp_path / "lecture.mp4"
    video.write_bytes(b"not even read")
    request = build_request(str(video))
    store = LocalStore(tmp_path / "bucket")
    ctx = Context(settings=Settings(data_dir=tmp_path), store=store, log=structlog.get_logger())
    put_json(store, marker_key(request.video_id), {"video_id": request.video_id, "state": "done"})
    with pytest.raises(StageError) as refused:
        fetcher.handle(ctx, "videos.requested", request)
    assert refused.value.reason == "taken_down" and request.video_id in str(refused.value)
    assert not list(store.list("videos/"))  # nothing was fetched


def test_a_junk_object_among_the_shards_is_quarantined_and_the_takedown_completes(layout: Layout) -> None:
    store, a, b = layout.store, layout.a, layout.b
    masked = layout.pair_on(b, a)
    [kept] = [p for p in layout.pairs[b] if p is not masked]
    junk = f"pairs/shards/{b}-00001.tar"
    store.put_bytes(junk, b"this is not a tar archive")

    report = takedown(store, a)

    assert report.quarantined == [junk] and not store.exists(junk)
    assert store.get_bytes(keys.quarantine_key(junk)) == b"this is not a tar archive"
    assert dict(shard_pairs(store, b)).keys() == {kept.pair_id}  # the masking went on past the junk
    assert [k for prefix in video_prefixes(a) for k in store.list(prefix)] == [] and report.state == "done"
