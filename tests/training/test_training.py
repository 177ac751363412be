"""Continual CLIP training (training/): config, stream handling, checkpoints, metrics, a short run, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from quilt.adapters.store import LocalStore
from quilt.testing.tissue_pairs import class_names, tissue_image, tissue_pairs
from training.checkpoint import latest_name, lineage_chain, trained_audit
from training.config import ConfigError, load_config, parse_config
from training.evaluation import retrieval_recall, zero_shot_accuracy
from training.folder_dataset import load_class_folders
from training.job import TrainingJob
from training.sources import FolderPairSource, write_folder_topic
from training.stream import Reservoir, TrainPair, is_held_out

ROOT = Path(__file__).resolve().parents[2]


def tiny_raw(**overrides: dict) -> dict:
    raw = {
        "model": {"embed_dim": 32, "context_length": 16,
                  "vision": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
                  "text": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}},
        "optim": {"lr": 1e-3, "batch_size": 16, "grad_accum": 2},
        "stream": {"replay_fraction": 0.25, "reservoir_size": 64, "holdout_percent": 5},
        "schedule": {"eval_every_steps": 1000, "checkpoint_every_steps": 3, "checkpoint_prefix": "ckpt/test"},
    }
    for section, values in overrides.items():
        raw[section] = {**raw[section], **values}
    return raw


# -- config --------------------------------------------------------------------------------------------

def test_shipped_configs_parse_with_quiltnet_defaults() -> None:
    prod = load_config("quiltnet-vit-b32")
    assert (prod.model.name, prod.optim.batch_size, prod.optim.lr, prod.optim.weight_decay) == ("ViT-B-32", 1024,
                                                                                                 5e-4, 0.2)
    assert prod.optim.betas == (0.9, 0.98) and not prod.model.allow_download
    tiny = load_config("tiny")
    assert tiny.model.vision["width"] == 64 and tiny.micro_batch == 32


@pytest.mark.parametrize("section, values, message", [
    ("optim", {"lr": -1.0}, "optim.lr"),
    ("optim", {"batch_size": 10, "grad_accum": 3}, "grad_accum"),
    ("optim", {"betas": [0.9]}, "betas"),
    ("optim", {"amp": "maybe"}, "amp"),
    ("stream", {"replay_fraction": 1.0}, "replay_fraction"),
    ("stream", {"colour": 1}, "unknown field"),
])
def test_bad_config_values_are_named(section: str, values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(tiny_raw(**{section: values}))


def test_config_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim\nlr = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="shipped configs"):
        load_config("no-such-config")
    with pytest.raises(ConfigError, match="needs either name"):
        parse_config({"model": {"embed_dim": 8}})


def test_named_model_refuses_download_unless_allowed() -> None:
    from training.model import ModelError, build_model

    config = load_config("quiltnet-vit-b32")
    with pytest.raises(ModelError, match="allow_download"):
        build_model(config.model)


# -- stream handling ----------------------------------------------------------------------------------

def test_reservoir_is_uniform_deterministic_and_restorable() -> None:
    def filled(seed: int) -> Reservoir:
        reservoir = Reservoir(50, seed)
        for i in range(1000):
            reservoir.offer(TrainPair(str(i), "k", "t"))
        return reservoir

    a, b = filled(1), filled(1)
    assert [p.pair_id for p in a.items] == [p.pair_id for p in b.items] and len(a) == 50
    assert np.mean([int(p.pair_id) for p in a.items]) > 300  # late pairs get in, not only the first 50
    restored = Reservoir.from_state(json.loads(json.dumps(a.state())))
    assert restored.sample(5) == a.sample(5)


def test_quality_filter_dedup_and_holdout(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    records = tissue_pairs(store, range(40), low_quality_every=10)
    write_folder_topic(tmp_path / "topic", records + records[:5])  # five replayed duplicates
    job = TrainingJob(parse_config(tiny_raw()), FolderPairSource(tmp_path / "topic"), store)
    for item in job.source.poll(100, 0):
        job.ingest(item)
    counts = job.counts
    assert counts["consumed"] == 45 and counts["dropped_quality"] == 5  # seeds 0, 10, 20, 30 and 0 again
    assert counts["dropped_duplicate"] == 4  # seed 0 is low quality, so only 4 of the 5 repeats reach dedup
    held = [r.pair_id for r in records if r.histo_score > 0.5 and is_held_out(r.pair_id, 5)]
    assert counts["held_out"] == len(held) and len(job.pending) == 36 - len(held)


# -- metrics and folder datasets ----------------------------------------------------------------------

def test_zero_shot_and_retrieval_on_hand_made_embeddings() -> None:
    classes = np.eye(3)
    images = np.array([[1, 0.1, 0], [0, 1, 0.2], [1, 0, 0.9], [0, 0, 1]])  # the third is closer to class 0
    assert zero_shot_accuracy(images, classes, [0, 1, 2, 2]) == pytest.approx(0.75)
    pair_images = np.eye(4)
    pair_images[2] = [1, 0, 0, 0]  # image 2 looks like image 0: its caption comes second
    recall = retrieval_recall(pair_images, np.eye(4), ks=(1, 2))
    assert recall["image_to_text_r@1"] == pytest.approx(0.75) and recall["image_to_text_r@2"] == 1.0
    assert recall["text_to_image_r@1"] == 1.0  # ties count for the true partner


def test_class_per_folder_loader(tmp_path: Path) -> None:
    for index, name in enumerate(["clear_cell", "papillary"]):
        (tmp_path / name).mkdir()
        for seed in range(3):
            Image.fromarray(tissue_image(index, seed)).save(tmp_path / name / f"{seed}.png")
    (tmp_path / "papillary" / "notes.txt").write_text("not an image")
    classes, examples = load_class_folders(tmp_path, size=32, limit_per_class=2)
    assert classes == ["clear cell", "papillary"] and len(examples) == 4
    assert examples[0].image.shape == (3, 32, 32) and examples[-1].label == "papillary"
    with pytest.raises(ValueError, match="two class folders"):
        load_class_folders(tmp_path / "papillary", size=32)


# -- training and checkpoints -------------------------------------------------------------------------

def test_short_training_lowers_the_loss_and_resumes_from_offsets(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    records = tissue_pairs(store, range(400))
    write_folder_topic(tmp_path / "topic", records)
    config = parse_config(tiny_raw())
    job = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    losses: list[float] = []
    job.run(max_steps=24, on_step=lambda _job, loss: losses.append(loss))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.1, losses
    # A second job on the same prefix picks up the model, offsets and pending pairs, then drains the topic.
    again = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    assert again.restore() and again.step == 24 and again.offsets == job.offsets
    report = again.run(stop_when_idle=True, poll_timeout_s=0.0)
    counts = report["counts"]
    assert counts["consumed"] == 400 and report["pending"] == 0
    assert counts["trained"] + counts["held_out"] == 400
    audit = trained_audit(store, config.schedule.checkpoint_prefix)["passes"][0]
    assert audit["trained"] == counts["trained"] and audit["double_trained"] == 0
    assert [c["step"] for c in lineage_chain(store, "ckpt/test")][-1] == again.step
    assert again.evaluate()["zero_shot_chance"] == pytest.approx(1 / len(class_names()))


def test_kill_9_mid_training_then_resume_skips_none_and_trains_none_twice(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    records = tissue_pairs(store, range(1200), low_quality_every=50)
    write_folder_topic(tmp_path / "topic", records, partitions=3)
    config_file = tmp_path / "train.json"
    config_file.write_text(json.dumps(tiny_raw(schedule={"checkpoint_every_steps": 5})))
    command = [sys.executable, "-m", "training.train", "--config", str(config_file),
               "--source", f"folder:{tmp_path / 'topic'}", "--bucket", str(tmp_path / "bucket"), "--stop-when-idle"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        name = latest_name(store, "ckpt/test")
        if name and int(name.split("-")[1]) >= 10:
            break
        time.sleep(0.1)
    assert first.poll() is None, "the first run ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = int(latest_name(store, "ckpt/test").split("-")[1])  # type: ignore[union-attr]
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stderr
    report = json.loads(second.stdout.strip().splitlines()[-1])
    audit = trained_audit(store, "ckpt/test")["passes"][0]
    expected = {r.pair_id for r in records if r.histo_score >= 0.5 and not is_held_out(r.pair_id, 5)}
    skipped = len(expected - set(audit["ids"]))
    print(f"kill -9 after checkpoint step {killed_at}: trained={audit['trained']} skipped={skipped} "
          f"double_trained={audit['double_trained']} counts={report['counts']}")
    assert skipped == 0 and audit["double_trained"] == 0 and set(audit["ids"]) == expected
    assert report["counts"]["consumed"] == 1200
