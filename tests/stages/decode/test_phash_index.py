"""PhashIndex against a folder store and a real S3 server (localbucket)."""

from __future__ import annotations

import random
import uuid
from fractions import Fraction
from pathlib import Path

import av
import pytest

from quilt.adapters.store import LocalStore, ObjectStore, S3Store
from quilt.core.imaging import hamming
from quilt.stages.decode.keyframes import decode_video
from quilt.stages.decode.phash_index import PhashIndex
from quilt.testing.lecture import SlideSpec, make_lecture

BASE = "c3a5f00f0ff05a3c"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    # conftest's s3_store names the bucket after the test id, and "[s3]" would end it in "-",
    # which S3 rejects; same server and credentials, a fresh bucket with a valid name instead.
    bucket = f"phash-{uuid.uuid4().hex[:16]}"
    s3 = S3Store(request.getfixturevalue("s3_server"), "quilt", "quiltsecret", bucket)
    s3.ensure_bucket()
    return s3


def flip(phash: str, bits: list[int]) -> str:
    value = int(phash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


def test_exact_match(store: ObjectStore) -> None:
    index = PhashIndex(store)
    index.add(BASE, "video-a", "chunk-1", "images/a/1.jpg")
    match = index.find(BASE, video_id="video-b")
    assert match is not None
    assert (match.phash, match.video_id, match.chunk_id, match.image_key, match.distance) == (
        BASE, "video-a", "chunk-1", "images/a/1.jpg", 0)
    assert index.find(BASE) is not None  # no video id: nothing to exclude


def test_near_match_within_distance_and_none_beyond(store: ObjectStore) -> None:
    index = PhashIndex(store, max_distance=6)
    index.add(BASE, "video-a", "chunk-1", "img/1.jpg")
    # Six flips spread over six different bands: only the seventh band still agrees.
    near = flip(BASE, [0, 10, 19, 28, 37, 46])
    match = index.find(near, video_id="video-b")
    assert match is not None and match.distance == 6 and match.chunk_id == "chunk-1"
    assert index.find(flip(BASE, [0, 10, 19, 28, 37, 46, 55]), video_id="video-b") is None


def test_closest_entry_wins(store: ObjectStore) -> None:
    index = PhashIndex(store)
    index.add(flip(BASE, [1, 2, 3, 4, 5]), "video-a", "far", "img/far.jpg")
    index.add(flip(BASE, [60, 61]), "video-c", "close", "img/close.jpg")
    match = index.find(BASE, video_id="video-b")
    assert match is not None and (match.chunk_id, match.distance) == ("close", 2)


def test_same_video_ignored(store: ObjectStore) -> None:
    index = PhashIndex(store)
    index.add(BASE, "video-a", "chunk-1", "img/a1.jpg")
    assert index.find(BASE, video_id="video-a") is None
    index.add(flip(BASE, [7, 40]), "video-b", "chunk-9", "img/b9.jpg")
    match = index.find(BASE, video_id="video-a")
    assert match is not None and (match.video_id, match.distance) == ("video-b", 2)


def test_add_is_idempotent(store: ObjectStore) -> None:
    index = PhashIndex(store, prefix="idx")
    for _ in range(3):  # a retried message
        index.add(BASE, "video-a", "chunk-1", "img/a1.jpg")
    keys = list(store.list("idx/"))
    assert len(keys) == index.bands == 7  # one small object per band, never duplicated
    assert index.find(BASE, video_id="video-b") is not None


def test_fewer_bands_probe_bit_flips(store: ObjectStore) -> None:
    # 4 bands of 16 bits and distance 6: some band differs in at most one bit, so lookups probe flips.
    index = PhashIndex(store, max_distance=6, bands=4)
    index.add(BASE, "video-a", "chunk-1", "img/a1.jpg")
    near = flip(BASE, [63, 62, 47, 46, 31, 15])  # 2, 2, 1, 1 bits in the four bands
    match = index.find(near, video_id="video-b")
    assert match is not None and match.distance == 6


def test_agrees_with_brute_force(tmp_path: Path) -> None:
    rng = random.Random(3)
    index = PhashIndex(LocalStore(tmp_path / "store"))
    entries = [(f"{rng.getrandbits(64):016x}", f"v{i % 5}", f"c{i}") for i in range(60)]
    for phash, video, chunk in entries:
        index.add(phash, video, chunk, f"img/{chunk}.jpg")
    for phash, _video, _chunk in rng.sample(entries, 20):
        query = flip(phash, rng.sample(range(64), rng.randint(0, 9)))
        best = min((hamming(query, h), h) for h, v, _ in entries if v != "q")
        match = index.find(query, video_id="q")
        assert (match.distance if match else None) == (best[0] if best[0] <= 6 else None)


def _reencode(src: Path, dst: Path, size: tuple[int, int], crf: int) -> None:
    """Decode and encode again, smaller and at a lower bitrate: what a re-upload does to a video."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": str(crf)}
        for i, frame in enumerate(inp.decode(video=0)):
            small = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            small.pts, small.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(small))
        out.mux(stream.encode(None))


@pytest.fixture(scope="module")
def lecture_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str]]:
    """Chunk phashes of a generated lecture and of its re-encoded copy."""
    folder = tmp_path_factory.mktemp("reencode")
    slides = [SlideSpec("histology", 4.0, "", seed=11), SlideSpec("ihc", 4.0, "", seed=12),
              SlideSpec("text", 4.0, "", title="Liver", lines=("Necrosis",)), SlideSpec("histology", 4.0, "", seed=13)]
    make_lecture(folder / "orig.mp4", slides, with_audio=False)
    _reencode(folder / "orig.mp4", folder / "copy.mp4", (256, 192), crf=35)
    orig = [c.phash for c in decode_video(folder / "orig.mp4").chunks]
    copy = [c.phash for c in decode_video(folder / "copy.mp4").chunks]
    assert len(orig) == len(copy) == len(slides)
    return orig, copy


def test_reencoded_copy_matches_original(store: ObjectStore, lecture_pair: tuple[list[str], list[str]]) -> None:
    orig, copy = lecture_pair
    index = PhashIndex(store)
    for n, phash in enumerate(orig):
        index.add(phash, "orig", f"chunk-{n}", f"images/orig/{n}.jpg")
    for n, phash in enumerate(copy):
        match = index.find(phash, video_id="copy")
        assert match is not None, f"slide {n}: {phash} vs {orig[n]} ({hamming(phash, orig[n])} bits)"
        assert (match.video_id, match.chunk_id) == ("orig", f"chunk-{n}")
    # ... and the copy's own chunks are never reported as duplicates of themselves.
    for n, phash in enumerate(copy):
        index.add(phash, "copy", f"chunk-{n}", f"images/copy/{n}.jpg")
    assert all((m := index.find(p, video_id="orig")) is not None and m.video_id == "copy" for p in orig)
