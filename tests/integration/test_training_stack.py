"""The trainer on the real embedded stack: it reads the pair topic from the broker and the images from the
S3 store, is killed with SIGKILL mid-training, resumes from its checkpoint's offsets, and in the end has
trained every pair on the topic exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quilt.adapters.topic_reader import read_all
from quilt.adapters.wire import pair_from_pb, pair_to_pb
from quilt.core import topics
from quilt.ops.lag import TRAINER_GROUP, consumer_lag
from quilt.stack.launcher import Stack
from quilt.testing.tissue_pairs import tissue_pairs
from quiltpb.v1 import messages_pb2 as pb
from tests.stack_fixture import bucket_of
from tests.training.test_training import ROOT, tiny_raw
from training.checkpoint import latest_name, trained_audit
from training.stream import is_held_out

pytestmark = pytest.mark.integration
PREFIX = "ckpt/stack-test"


def _produce(stack: Stack, payloads: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.settings.kafka, acks="all")
    try:
        for number, value in enumerate(payloads):
            producer.send(stack.settings.topic(topics.PAIRS), key=f"gen-{number % 7}".encode(), value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()


def test_trainer_on_the_pair_topic_survives_kill_9_with_no_pair_skipped_or_trained_twice(
        stack: Stack, tmp_path: Path) -> None:
    store = bucket_of(stack)
    records = tissue_pairs(store, range(500_000, 500_600), prefix="train-test", low_quality_every=40)
    _produce(stack, [pair_to_pb(r).SerializeToString() for r in records])
    config = tmp_path / "train.json"
    config.write_text(json.dumps(tiny_raw(schedule={"checkpoint_every_steps": 4, "checkpoint_prefix": PREFIX})))
    s = stack.settings
    env = {**os.environ, "OMP_NUM_THREADS": "1", "QUILT_HOST": s.host, "QUILT_KAFKA_PORT": str(s.kafka_port),
           "QUILT_S3_PORT": str(s.s3_port), "QUILT_TOPIC_PREFIX": s.topic_prefix, "QUILT_BUCKET": s.bucket,
           "QUILT_DATA_DIR": str(s.data_dir)}
    command = [sys.executable, "-m", "training.train", "--config", str(config), "--source", "kafka",
               "--stop-when-idle"]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        name = latest_name(store, PREFIX)
        if name and int(name.split("-")[1]) >= 8:
            break
        time.sleep(0.1)
    assert first.poll() is None, first.communicate()[1].decode()[-2000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stderr
    report = json.loads(second.stdout.strip().splitlines()[-1])
    # Everything on the topic counts, other tests' pipeline pairs included (their images are in the bucket too).
    messages = read_all(s, topics.PAIRS)
    on_topic = [pair_from_pb(pb.Pair.FromString(m.value)) for m in messages if m.value is not None]  # not tombstones
    assert report["counts"]["consumed"] == len(on_topic)
    expected = {r.pair_id for r in on_topic if r.histo_score >= 0.5 and r.align_score >= 0.3
                and not is_held_out(r.pair_id, 5)}
    audit = trained_audit(store, PREFIX)["passes"][0]
    skipped = expected - set(audit["ids"])
    print(f"kafka source, kill -9 at checkpoint >= 8: trained={audit['trained']} skipped={len(skipped)} "
          f"double_trained={audit['double_trained']} counts={report['counts']}")
    assert not skipped and audit["double_trained"] == 0 and set(audit["ids"]) == expected
    # The trainer told the broker how far it got: `quilt status` shows its group with nothing left.
    trainer_rows = [row for row in consumer_lag(s) if row.group == TRAINER_GROUP]
    assert [(row.topic, row.committed, row.lag) for row in trainer_rows] == [(s.topic(topics.PAIRS), len(on_topic), 0)]
