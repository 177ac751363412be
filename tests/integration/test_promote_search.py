"""Promotion of training checkpoints to Triton's `clip` model (live, no restart) and `quilt search` over it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from quilt.adapters.store import LocalStore
from quilt.cli import search_cmd
from quilt.ops.search import SearchError, TritonClip, build_index, search
from quilt.stack.ports import free_port
from quilt.stack.triton import start_triton, stop_triton
from quilt.testing.tissue_pairs import TISSUE_TYPES, class_names, tissue_pairs
from tests.training.test_training import tiny_raw
from training.config import parse_config
from training.job import TrainingJob
from training.promote import promote, promoted_record
from training.sources import FolderPairSource, write_folder_topic
from training.stream import TrainPair

pytestmark = pytest.mark.integration
PREFIX = "ckpt/test"
METRIC = "zero_shot_acc"


@pytest.fixture
def triton(tmp_path: Path) -> Iterator[tuple[str, object, Path]]:
    """A test-local Triton in explicit mode over an empty temporary repository (nothing loaded at start)."""
    repository = tmp_path / "repository"
    repository.mkdir()
    grpc_port = free_port()
    proc = start_triton(tmp_path / "triton", grpc_port, free_port(), free_port(), model_repository=repository,
                        models=[], ready_timeout_s=120)
    try:
        yield f"127.0.0.1:{grpc_port}", proc, repository
    finally:
        stop_triton(proc)


def queries() -> list[tuple[str, str]]:
    out = []
    for tissue in TISSUE_TYPES:
        w = tissue.words
        out += [(tissue.name, tissue.name), (f"a histopathology image of {tissue.name} tissue", tissue.name),
                (f"{tissue.name} {w[0]} and {w[1]}", tissue.name), (f"here we see {tissue.name} {w[2]} and {w[3]}",
                                                                     tissue.name)]
    return out


def test_promote_live_then_search(tmp_path: Path, triton: tuple[str, object, Path]) -> None:
    import tritonclient.grpc as grpcclient

    url, proc, repository = triton
    started = time.monotonic()
    store = LocalStore(tmp_path / "bucket")
    write_folder_topic(tmp_path / "topic", tissue_pairs(store, range(2000)))
    held_out = tissue_pairs(store, range(100_000, 100_100), prefix="heldout")
    config = parse_config(tiny_raw(schedule={"checkpoint_every_steps": 100_000}))
    job = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    examples = job.eval_examples([TrainPair.of(r) for r in held_out])

    def checkpoint(steps: int) -> tuple[str, float]:
        job.run(max_steps=steps, stop_when_idle=True, poll_timeout_s=0.0, deadline=time.monotonic() + 60)
        value = job.evaluate(examples, class_names())[METRIC]
        return job.save(), value

    name_a, acc_a = checkpoint(8)
    first = promote(store, PREFIX, name_a, repository, url)
    assert first.promoted and first.version == 1 and first.loaded, first
    client = grpcclient.InferenceServerClient(url)
    assert client.is_model_ready("clip", "1")
    clip = TritonClip(url)
    probe = ["liver hepatocytes", "lung alveoli"]
    v1_text = clip.embed_texts(probe)
    assert clip.served_version() == 1 and v1_text.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(v1_text, axis=1), 1.0, atol=1e-5)

    # Not strictly better: the same checkpoint again, then an untrained model's checkpoint.
    again = promote(store, PREFIX, name_a, repository, url)
    assert not again.promoted and "already promoted" in again.reason
    untrained = TrainingJob(config, FolderPairSource(tmp_path / "topic"), store)
    untrained.evaluate(examples, class_names())
    untrained.metrics[METRIC] = min(untrained.metrics[METRIC], acc_a)  # never better than A, whatever chance gives
    worse = promote(store, PREFIX, untrained.save(), repository, url)
    assert not worse.promoted and "does not beat" in worse.reason and worse.current_version == 1
    assert promoted_record(store, PREFIX)["checkpoint"] == name_a  # type: ignore[index]

    name_b, acc_b = checkpoint(150)  # 12 fresh pairs a step: the 2000-pair topic lasts about 155 steps
    print(f"held-out {METRIC}: A ({name_a}) {acc_a:.3f}, B ({name_b}) {acc_b:.3f}")
    assert acc_b > acc_a
    second = promote(store, PREFIX, name_b, repository, url)
    assert second.promoted and second.version == 2 and second.loaded, second
    assert proc.poll() is None  # type: ignore[attr-defined]  # the same server process, never restarted
    assert client.is_model_ready("clip", "2") and not client.is_model_ready("clip", "1")
    assert clip.served_version() == 2
    assert not np.allclose(clip.embed_texts(probe), v1_text, atol=1e-4)
    assert sorted(p.name for p in (repository / "clip").iterdir() if p.is_dir()) == ["1", "2"]

    # Search over the held-out pairs, indexed in the store with the served version.
    with pytest.raises(SearchError, match="no search index"):
        search(store, clip, "liver")
    summary = build_index(store, clip, held_out)
    assert summary == {"version": 2, "count": 100, "dim": 32}
    results = [(label, search(store, clip, text, k=1)[0].labels) for text, label in queries()]
    share = float(np.mean([labels[0] == label for label, labels in results]))
    print(f"search: matching tissue type first in {share:.0%} of {len(results)} queries "
          f"({time.monotonic() - started:.1f}s)")
    assert share >= 0.8

    parser = search_cmd.configure(argparse.ArgumentParser())
    args = parser.parse_args(["kidney glomeruli", "--k", "3", "--bucket-dir", str(tmp_path / "bucket"),
                              "--triton-url", url])
    assert search_cmd.run(args) == 0
    clip.close()
    client.close()


def test_search_errors_name_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = search_cmd.configure(argparse.ArgumentParser()).parse_args(
        ["liver", "--bucket-dir", str(tmp_path), "--triton-url", f"127.0.0.1:{free_port()}"])
    assert search_cmd.run(args) == 1
    assert "not reachable" in capsys.readouterr().err


def test_the_cli_routes_search() -> None:
    from quilt.cli.main import build_parser

    args = build_parser().parse_args(["search", "liver hepatocytes", "--k", "3"])
    assert (args.command, args.query, args.k) == ("search", "liver hepatocytes", 3)


def test_promote_cli_names_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.promote import main

    assert main(["--bucket", str(tmp_path), "--prefix", "ckpt/none"]) == 2
    assert "no checkpoint under 'ckpt/none'" in capsys.readouterr().err


def test_promote_cli_says_when_the_stacks_store_is_unreachable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from training.promote import main

    monkeypatch.setenv("QUILT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUILT_S3_PORT", str(free_port()))  # no --bucket: the configured stack's S3 store
    assert main(["--prefix", "ckpt/none"]) == 3
    assert "cannot reach the S3 store" in capsys.readouterr().err
