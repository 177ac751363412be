"""`quilt takedown` on the real embedded stack: pairs of three videos on the broker's pair topic and their
objects in the S3 bucket (laid out by the real service handlers), the takedown run through the command,
then the tombstone read back from the broker, the bucket checked, `quilt pairs tail` and the trainer fed
from the topic.

The pair topic here has a prefix of its own (`qt-takedown.`), on the same broker: the session's `qt.pairs`
is read whole by test_training_stack.py, which would have to learn about tombstones and withdrawn videos.
"""

from __future__ import annotations

import argparse
import io
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from quilt.adapters.config import Settings
from quilt.adapters.store import ObjectStore, S3Store, get_json
from quilt.adapters.topic_reader import read_all
from quilt.adapters.wire import pair_to_pb
from quilt.cli import takedown_cmd, watch_cmds
from quilt.core import keys, topics
from quilt.ops.takedown import TOMBSTONE_HEADER, marker_key
from quilt.stack.launcher import Stack
from tests.ops.test_takedown import Layout, three_videos
from tests.stack_fixture import bucket_of
from tests.training.test_training import tiny_raw
from training.checkpoint import trained_audit
from training.config import parse_config
from training.job import TrainingJob
from training.sources import KafkaPairSource
from training.stream import is_held_out

pytestmark = pytest.mark.integration
GROUP = "quilt-trainer-takedown-test"  # not `quilt-trainer`, whose lag test_training_stack.py checks


class MarkerBlind:
    """The bucket without the takedown markers: a trainer on it learns of the takedown from the tombstone alone."""

    def __init__(self, store: S3Store) -> None:
        self.inner = store

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def list(self, prefix: str) -> Iterator[str]:
        return (key for key in self.inner.list(prefix) if not key.startswith("takedowns/"))


def _settings(stack: Stack) -> Settings:
    settings = replace(stack.settings, topic_prefix="qt-takedown.")
    Stack(settings, say=lambda line: None).create_topics()
    return settings


def _produce(settings: Settings, layout: Layout) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka, acks="all")
    try:
        for video in (layout.c, layout.a, layout.b):  # in the order the aligner finished them, keyed like it
            for record in layout.pairs[video]:
                producer.send(settings.topic(topics.PAIRS), key=video.encode(),
                              value=pair_to_pb(record).SerializeToString())
        producer.flush(timeout=60)
    finally:
        producer.close()


def _use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point the commands (which read QUILT_* settings) at the stack and the takedown test's topics."""
    for name in ("host", "s3_port", "kafka_port", "topic_prefix", "bucket", "s3_access_key", "s3_secret_key"):
        monkeypatch.setenv(f"QUILT_{name.upper()}", str(getattr(settings, name)))


def _members(store: ObjectStore, video_id: str) -> list[str]:
    names = []
    for key in sorted(store.list(f"pairs/shards/{video_id}-")):
        with tarfile.open(fileobj=io.BytesIO(store.get_bytes(key))) as tar:
            names += [m.name.removesuffix(".json") for m in tar.getmembers() if m.name.endswith(".json")]
    return names


def _train(settings: Settings, store: ObjectStore, prefix: str) -> dict:
    config = parse_config(tiny_raw(schedule={"checkpoint_prefix": prefix}))
    source = KafkaPairSource(settings.kafka, settings.topic(topics.PAIRS), group=GROUP)
    try:
        job = TrainingJob(config, source, store)
        report = job.run(stop_when_idle=True, poll_timeout_s=2.0)
    finally:
        source.close()
    return {**report, "trained_ids": set(trained_audit(store, prefix)["passes"][0]["ids"])}


def test_takedown_on_the_stack_tombstones_deletes_masks_and_the_trainer_skips_the_video(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(stack)
    store = bucket_of(stack)
    layout = three_videos(store, tmp_path, monkeypatch, seed=7101)  # pictures no other stack test shows
    a, b, c = layout.a, layout.b, layout.c
    _produce(settings, layout)
    masked = layout.pair_on(b, a)
    assert masked.pair_id in _members(store, b)
    _use(monkeypatch, settings)

    args = takedown_cmd.configure(argparse.ArgumentParser()).parse_args([a, "--yes", "--reason", "owner request"])
    assert takedown_cmd.run(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"takedown: video={a} objects=") and line.endswith("pairs=3 masked=1 tombstone=yes")

    # The tombstone is on the pair topic, after the video's pairs, on their partition.
    on_topic = read_all(settings, topics.PAIRS)
    assert len(on_topic) == 7
    tombstone = on_topic[-1]
    assert (tombstone.key, tombstone.value) == (a.encode(), None)
    assert (TOMBSTONE_HEADER, b"video") in list(tombstone.headers)
    assert {r.partition for r in on_topic if r.key == a.encode()} == {tombstone.partition}
    # The bucket: nothing of A but its marker; B's shards and index without its pair on A's picture.
    assert [k for k in store.list("") if a in k] == [marker_key(a)]
    assert get_json(store, marker_key(a))["state"] == "done"
    assert _members(store, b) == [p.pair_id for p in layout.pairs[b] if p is not masked]
    assert not store.exists(keys.pair_key(b, masked.pair_id))
    assert _members(store, c) == [layout.pairs[c][0].pair_id]

    # `quilt pairs tail` shows the takedown instead of failing on the tombstone.
    tail = argparse.Namespace(from_beginning=True, count=7, timeout=30.0)
    assert watch_cmds.pairs_tail(tail) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"takedown: {a}"

    # A trainer fed from the topic trains none of the withdrawn pairs (A's, and B's on A's picture, whose
    # image is gone): from the tombstone alone, and from the marker it reads at start.
    expected = {p.pair_id for p in (layout.pairs[c][0], *layout.pairs[b]) if p is not masked
                and not is_held_out(p.pair_id, 5)}
    withdrawn_pairs = [*layout.pairs[a], masked]
    kept_pairs = [p for p in (layout.pairs[c][0], *layout.pairs[b]) if p is not masked]
    # Each consumed pair is counted once. Told by the marker, the trainer drops every withdrawn pair as it
    # arrives; told only by the tombstone, which comes after them, it has already set aside those whose id
    # hashes into the held-out split (they stay counted as held out, and leave the held-out set), and drops
    # the rest. Pair ids depend on the test's folder, so which ones hash there differs from run to run.
    late_held_out = sum(is_held_out(p.pair_id, 5) for p in withdrawn_pairs)
    held_out_kept = sum(is_held_out(p.pair_id, 5) for p in kept_pairs)
    for name, view, dropped, held_out in (
            ("tombstone", MarkerBlind(store), len(withdrawn_pairs) - late_held_out, held_out_kept + late_held_out),
            ("marker", store, len(withdrawn_pairs), held_out_kept)):
        report = _train(settings, view, f"ckpt/takedown-stack-{a}-{name}")  # type: ignore[arg-type]
        counts = report["counts"]
        print(f"trainer ({name}): counts={counts}")
        assert report["trained_ids"] == expected, name
        assert (counts["consumed"], counts["tombstones"], counts["dropped_takedown"], counts["held_out"]) == (
            7, 1, dropped, held_out), name
