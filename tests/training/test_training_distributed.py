"""The training entry point under torchrun (two CPU ranks over gloo): partitions split by rank, lockstep
steps, one checkpoint for all ranks, kill -9 of the whole group, and resuming under a different number
of ranks with no pair skipped and none trained twice. Also the learning-rate warm-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from quilt.adapters.store import LocalStore, get_json
from quilt.testing.tissue_pairs import tissue_pairs
from tests.training.test_training import ROOT, tiny_raw
from training.checkpoint import latest_name, lineage_chain, trained_audit
from training.config import parse_config
from training.distributed import Solo, from_env, owns_partition
from training.job import TrainingJob, restored_reservoir
from training.sources import FolderPairSource, write_folder_topic
from training.stream import Reservoir, TrainPair, is_held_out

PREFIX = "ckpt/test"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _command(tmp_path: Path, launcher: list[str], *extra: str) -> list[str]:
    return [*launcher, "-m", "training.train", "--config", str(tmp_path / "train.json"),
            "--source", f"folder:{tmp_path / 'topic'}", "--bucket", str(tmp_path / "bucket"), *extra]


def _process_tree(root: int) -> list[int]:
    """`root` and every descendant, from /proc (torchrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _kill_9_tree(root: int) -> None:
    """Like a node dying: SIGKILL to the launcher and every worker at once."""
    for pid in _process_tree(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _step(name: str | None) -> int:
    return int(name.split("-")[1]) if name else -1


def test_torchrun_kill_9_and_resume_on_other_world_sizes_skips_none_and_trains_none_twice(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    first_records = tissue_pairs(store, range(600), low_quality_every=50)
    write_folder_topic(tmp_path / "topic", first_records, partitions=3)  # ranks own {0, 2} and {1}: uneven
    (tmp_path / "train.json").write_text(json.dumps(tiny_raw(schedule={"checkpoint_every_steps": 4,
                                                                      "checkpoint_prefix": PREFIX})))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # 1. Two ranks, killed (the launcher and both workers) with SIGKILL after checkpoint 8.
    group = subprocess.Popen(_command(tmp_path, TORCHRUN, "--stop-when-idle"), cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and group.poll() is None and _step(latest_name(store, PREFIX)) < 8:
        time.sleep(0.1)
    assert group.poll() is None, group.communicate()[1].decode()[-3000:]
    workers = _process_tree(group.pid)[1:]
    assert len(workers) >= 2, workers  # the two ranks (and any helper the launcher keeps)
    _kill_9_tree(group.pid)
    group.wait()
    killed_at = _step(latest_name(store, PREFIX))
    assert get_json(store, f"{PREFIX}/{latest_name(store, PREFIX)}/lineage.json")["world_size"] == 2

    # 2. One rank resumes the two ranks' checkpoint for six more steps.
    one = subprocess.run(_command(tmp_path, [sys.executable], "--max-steps", str(killed_at + 6)),
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "written by 2 rank(s), now 1" in one.stderr

    # 3. More pairs arrive; two ranks resume the one rank's checkpoint and drain the topic.
    later_records = tissue_pairs(store, range(600, 800), low_quality_every=50)
    write_folder_topic(tmp_path / "topic", later_records, partitions=3)
    two = subprocess.run(_command(tmp_path, TORCHRUN, "--stop-when-idle"), cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "written by 1 rank(s), now 2" in two.stderr
    report = json.loads(two.stdout.strip().splitlines()[-1])  # printed once, by rank 0
    assert report["world_size"] == 2 and report["counts"]["consumed"] == 800

    records = first_records + later_records
    expected = {r.pair_id for r in records if r.histo_score >= 0.5 and not is_held_out(r.pair_id, 5)}
    audit = trained_audit(store, PREFIX)["passes"][0]
    stream = get_json(store, f"{PREFIX}/{latest_name(store, PREFIX)}/stream.json")
    pending = {p[0] for p in stream["pending"]}  # fewer than one per rank may wait for the next pair
    skipped = expected - set(audit["ids"]) - pending
    print(f"torchrun 2 ranks killed at checkpoint {killed_at}, then 1 rank, then 2: trained={audit['trained']} "
          f"skipped={len(skipped)} double_trained={audit['double_trained']} pending={len(pending)}")
    assert not skipped and audit["double_trained"] == 0 and len(pending) < 2
    assert set(audit["ids"]) | pending == expected
    assert [c["world_size"] for c in lineage_chain(store, PREFIX)][-1] == 2
    assert {c.get("world_size") for c in lineage_chain(store, PREFIX)} == {1, 2}


def test_ranks_read_disjoint_partitions(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    write_folder_topic(tmp_path / "topic", tissue_pairs(store, range(30)), partitions=3)
    seen = []
    for rank in range(2):
        source = FolderPairSource(tmp_path / "topic", rank=rank, world_size=2)
        got = source.poll(100, 0)
        assert {item.partition for item in got} == {p for p in range(3) if owns_partition(p, rank, 2)}
        seen += [item.record.pair_id for item in got]
    assert len(seen) == len(set(seen)) == 30


def test_reservoirs_are_dealt_out_again_when_the_world_size_changes() -> None:
    states = []
    for rank in range(2):
        reservoir = Reservoir(capacity=10, seed=rank)
        for i in range(15):
            reservoir.offer(TrainPair(f"r{rank}-{i}", "k", "t"))
        states.append(reservoir.state())
    stream = {"reservoir": states[0], "reservoirs": states}
    same = restored_reservoir(stream, 1, 2, seed=0)
    assert [p.pair_id for p in same.items] == [i[0] for i in states[1]["items"]]  # unchanged world: its own
    thirds = [restored_reservoir(stream, rank, 3, seed=0) for rank in range(3)]
    ids = [p.pair_id for r in thirds for p in r.items]
    assert sorted(ids) == sorted(i[0] for s in states for i in s["items"])  # every item, once
    assert [len(r) for r in thirds] == [7, 7, 6] and all(r.offered == 10 for r in thirds)
    one = restored_reservoir({"reservoir": states[0]}, 0, 1, seed=0)  # an old single-rank checkpoint
    assert len(one) == 10 and one.offered == 15


def test_a_world_of_one_is_solo() -> None:
    collective = from_env({"WORLD_SIZE": "1"}, device=torch.device("cpu"))
    assert isinstance(collective, Solo) and collective.is_main and collective.all_gather(3) == [3]


def test_learning_rate_warms_up_linearly_and_the_schedule_resumes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    write_folder_topic(tmp_path / "topic", tissue_pairs(store, range(200)))
    config = parse_config(tiny_raw(optim={"warmup_steps": 4, "lr": 1e-3}))
    job = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    rates = [job.trainer.lr]
    job.run(max_steps=5, on_step=lambda j, _loss: rates.append(j.trainer.lr), poll_timeout_s=0.0)
    assert rates == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    job.save()
    again = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    assert again.restore() and again.trainer.lr == pytest.approx(1e-3)


def test_bench_throughput_times_training_steps(capsys: pytest.CaptureFixture[str]) -> None:
    from quilt.cli.main import build_parser, dispatch

    args = build_parser().parse_args(["bench", "throughput", "--batch", "8", "--steps", "2", "--warmup", "1",
                                      "--device", "cpu"])
    assert dispatch(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    fields = dict(part.split("=", 1) for part in last.removeprefix("throughput: ").split())
    assert last.startswith("throughput: ") and float(fields["images_per_s"]) > 0
    assert (fields["batch"], fields["steps"], fields["device"], fields["amp"]) == ("8", "2", "cpu", "off")
