"""The whole streaming path on the real embedded stack: broker, S3 store, Triton, six services."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from quilt.adapters.status import read_video_status
from quilt.adapters.store import get_json
from quilt.adapters.topic_reader import read_all
from quilt.cli.demo import pair_topic_counts
from quilt.core import keys, topics
from quilt.core.records import PAIR_FIELDS
from quilt.ops.submit import Submitter, build_request
from quilt.stack.launcher import Stack
from quilt.testing.lecture import SlideSpec, make_corrupt, make_lecture
from quiltpb.v1 import messages_pb2 as pb
from quiltpb.v1 import services_pb2 as spb
from quiltpb.v1 import services_pb2_grpc as sgrpc
from tests.stack_fixture import bucket_of, wait_video

pytestmark = pytest.mark.integration

def short_lecture(seed: int) -> list[SlideSpec]:
    """A 21 s lecture; each seed draws different tissue, since the stack drops images another video gave."""
    return [
        SlideSpec("text", 5.0, "Welcome back to the channel, please like and subscribe.", title="Liver pathology"),
        SlideSpec("histology", 8.0, "This hematoxylin and eosin section shows hepatocytes around the bile duct.",
                  seed=seed, pointer=True),
        SlideSpec("ihc", 8.0, "The lymphocytes show necrosis next to the glandular epithelium.", seed=seed + 1),
    ]


SHORT_LECTURE = short_lecture(1)


def submit(stack: Stack, path: Path) -> str:
    request = build_request(str(path))
    submitter = Submitter(stack.settings)
    try:
        submitter.send([request])
    finally:
        submitter.close()
    return request.video_id


def pair_records(stack: Stack, video_id: str) -> list[dict]:
    store = bucket_of(stack)
    return [get_json(store, key) for key in store.list(f"{keys.PAIRS_PREFIX}/records/{video_id}/")]


def read_topic(stack: Stack, topic: str, cls: type, timeout_s: float = 3.0) -> list:
    found = []
    for record in read_all(stack.settings, topic, idle_timeout_s=timeout_s):
        message = cls()
        message.ParseFromString(record.value)
        found.append(message)
    return found


def test_lecture_becomes_pairs_in_bucket_and_on_topic(stack: Stack, tmp_path: Path) -> None:
    video = tmp_path / "liver.mp4"
    make_lecture(video, SHORT_LECTURE)
    video_id = submit(stack, video)
    stages = wait_video(stack, video_id)
    assert {s: e["state"] for s, e in stages.items()} == {s: "done" for s in stages}, stages
    records = pair_records(stack, video_id)
    assert records, f"no pairs: {stages}"
    store = bucket_of(stack)
    for record in records:
        assert set(PAIR_FIELDS) <= set(record)
        assert store.exists(record["image"]) and record["image"].endswith(".jpg")
        assert record["histo_score"] >= stack.settings.histo_threshold
        assert record["models"]["asr"].startswith("faster-whisper")
    texts = " ".join(r["text"].lower() for r in records)
    assert "hematoxylin" in texts or "hepatocytes" in texts or "lymphocytes" in texts, texts
    assert "subscribe" not in texts  # channel chatter is not paired
    on_topic = {m.pair_id for m in read_topic(stack, topics.PAIRS, pb.Pair) if m.video_id == video_id}
    assert on_topic == {r["pair_id"] for r in records}
    shards = list(store.list(f"{keys.PAIRS_PREFIX}/shards/{video_id}"))
    assert shards and list(store.list(f"{keys.PAIRS_PREFIX}/index/{video_id}"))


def test_reuploaded_lecture_adds_no_pairs(stack: Stack, tmp_path: Path) -> None:
    original, copy = tmp_path / "original.mp4", tmp_path / "copy.mp4"
    make_lecture(original, short_lecture(41))
    make_lecture(copy, short_lecture(41), preset="medium")  # same pictures, other bytes, other video id
    first = submit(stack, original)
    assert wait_video(stack, first)["aligner"]["state"] == "done"
    assert pair_records(stack, first)
    second = submit(stack, copy)
    assert second != first
    stages = wait_video(stack, second)
    assert stages["aligner"]["state"] == "done"
    assert stages["decoder"]["detail"]["duplicates_dropped"] >= 2
    assert pair_records(stack, second) == []


def test_corrupt_video_goes_to_dead_letter(stack: Stack, tmp_path: Path) -> None:
    video = tmp_path / "broken.mp4"
    make_corrupt(video)
    video_id = submit(stack, video)
    stages = wait_video(stack, video_id, timeout_s=120)
    assert stages["decoder"]["state"] == "failed"
    assert stages["decoder"]["reason"] == "corrupt_input"
    letters = [m for m in read_topic(stack, topics.DEADLETTER, pb.DeadLetter) if m.video_id == video_id]
    assert letters and letters[0].stage == "decoder" and letters[0].input_value  # replayable


def test_grpc_health_status_and_submit(stack: Stack, tmp_path: Path) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    addresses = stack.addresses()
    with grpc.insecure_channel(addresses["decoder"]) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        status = sgrpc.DecoderStub(channel).GetStatus(spb.StatusRequest(), timeout=5)
        assert status.service == "decoder"
    video = tmp_path / "via-grpc.mp4"
    make_lecture(video, short_lecture(31)[1:2])
    with grpc.insecure_channel(addresses["fetcher"]) as channel:
        stub = sgrpc.FetcherStub(channel)
        reply = stub.Submit(spb.SubmitRequest(sources=[str(video)]), timeout=30)
        assert len(reply.submitted) == 1
        with pytest.raises(grpc.RpcError) as bad:
            stub.Submit(spb.SubmitRequest(sources=["ftp://nowhere/x.mp4"]), timeout=10)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stages = wait_video(stack, reply.submitted[0].video_id)
    assert stages["aligner"]["state"] == "done"
    s = stack.settings
    metrics = urllib.request.urlopen(f"http://{s.host}:{s.service_metrics_port('aligner')}/metrics", timeout=5)
    text = metrics.read().decode()
    assert 'quilt_messages_total{outcome="done",service="aligner"}' in text


def test_folder_subscription_submits_each_video_once(stack: Stack, tmp_path: Path) -> None:
    from quilt.ops.subscriptions import SubscriptionRegistry

    folder = tmp_path / "inbox"
    folder.mkdir()
    make_lecture(folder / "a.mp4", SHORT_LECTURE[1:2])
    registry = SubscriptionRegistry(bucket_of(stack))
    sub = registry.add(str(folder), interval_s=2.0)
    try:
        deadline = time.monotonic() + 60
        while len(registry.seen(sub.sub_id)) < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        make_lecture(folder / "b.mp4", SHORT_LECTURE[2:3])
        while len(registry.seen(sub.sub_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(registry.seen(sub.sub_id)) == 2
        time.sleep(5)  # two more polls: nothing new may be submitted
        requests = [m for m in read_topic(stack, topics.REQUESTED, pb.VideoRequest)
                    if m.subscription_id == sub.sub_id]
        assert sorted(r.video_id for r in requests) == sorted(registry.seen(sub.sub_id))
    finally:
        registry.remove(sub.sub_id)


def test_restart_broker_and_service_mid_run_gives_each_pair_once(stack: Stack, tmp_path: Path) -> None:
    video = tmp_path / "restart.mp4"
    make_lecture(video, short_lecture(11))
    video_id = submit(stack, video)
    wait_video(stack, video_id, stage="decoder", timeout_s=120)
    stack.restart("broker")
    stack.restart("denoiser")
    stages = wait_video(stack, video_id, timeout_s=300)
    assert stages["aligner"]["state"] == "done", stages
    records = pair_records(stack, video_id)
    ids = [r["pair_id"] for r in records]
    assert ids and len(ids) == len(set(ids))
    assert pair_topic_counts(stack.settings).get(video_id, 0) >= len(ids)


def test_stack_down_leaves_nothing_and_up_reprocesses_nothing(stack: Stack, tmp_path: Path) -> None:
    from quilt.stack.processes import group_members

    video = tmp_path / "persist.mp4"
    make_lecture(video, short_lecture(21)[1:2])
    video_id = submit(stack, video)
    wait_video(stack, video_id)
    before = {s: e["updated_at"] for s, e in bucket_status(stack, video_id).items()}
    pids = [state.pid for state in stack.status() if state.pid]
    stack.down()
    assert not any(group_members(pid) for pid in pids)
    stack.up(timeout_s=240)
    assert pair_records(stack, video_id)
    time.sleep(10)  # give every service time to (wrongly) replay old offsets
    after = {s: e["updated_at"] for s, e in bucket_status(stack, video_id).items()}
    assert after == before


def bucket_status(stack: Stack, video_id: str) -> dict:
    from quilt.adapters.status import read_video_status

    return read_video_status(bucket_of(stack), video_id)


def test_status_shows_live_consumer_lag_while_lectures_process(stack: Stack, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from quilt.cli import watch_cmds
    from quilt.ops.lag import TRAINER_GROUP, consumer_lag

    videos = []
    for seed in (61, 63, 65):
        path = tmp_path / f"lag-{seed}.mp4"
        make_lecture(path, short_lecture(seed))
        videos.append(path)
    ids = [submit(stack, path) for path in videos]  # back to back: ASR takes one at a time, the rest wait
    peak: dict[tuple[str, str], int] = {}
    seen_cli = ""
    monkeypatch.setattr(watch_cmds, "load_settings", lambda: stack.settings)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for row in consumer_lag(stack.settings):
            peak[(row.group, row.topic)] = max(peak.get((row.group, row.topic), 0), row.lag)
        if not seen_cli and any(peak.values()):
            # The command shows the same lag while it is there, and ends with its machine-readable line.
            assert watch_cmds.status(argparse.Namespace(video_id=None, no_lag=False, lag_only=True)) == 0
            seen_cli = capsys.readouterr().out
        if all(read_video_status(bucket_of(stack), vid).get("aligner", {}).get("state") == "done" for vid in ids):
            break
        time.sleep(0.2)
    assert any(lag > 0 for lag in peak.values()), peak  # a backlog was seen while the lectures were in flight
    assert "consumer lag" in seen_cli and "lag: total=" in seen_cli.strip().splitlines()[-1]
    # The trainer's group shows up only if a training test of this session committed to it; no trainer
    # runs here, so its lag on the new pairs is real and left out of the drain check.
    groups = {group for group, _ in peak} - {TRAINER_GROUP}
    assert groups == {f"quilt-{name}" for name in ("fetcher", "decoder", "asr", "denoiser", "histo_filter",
                                                  "aligner")}

    def services_lag() -> dict[str, int]:
        return {row.topic: row.lag for row in consumer_lag(stack.settings) if row.lag and row.group != TRAINER_GROUP}

    # Once everything is done and committed (faust commits every second), nothing is left behind.
    drained = time.monotonic() + 30
    while time.monotonic() < drained and services_lag():
        time.sleep(0.5)
    assert services_lag() == {}
