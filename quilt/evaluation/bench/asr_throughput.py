"""Whisper throughput through Triton for several serving configurations.

Each configuration gets its own copy of `triton_models/whisper` with a patched config.pbtxt
(instance count, CTranslate2 threads per instance, dynamic batching) and its own tritonserver
on free loopback ports; N requests of espeak-ng speech are sent from C client threads and the
result is audio seconds transcribed per wall second (the realtime factor).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quilt.evaluation.bench.espeak import espeak
from quilt.stack.ports import free_port
from quilt.stack.triton import MODEL_REPOSITORY, start_triton, stop_triton
from quilt.stages.asr.whisper import TritonTranscriber, prepare_audio

BENCH_TEXT = ("In this hematoxylin and eosin section of liver we see hepatocytes arranged in plates around "
              "the central vein. The portal triad contains a bile duct, a branch of the portal vein and a "
              "hepatic artery, with a few lymphocytes in the connective tissue. ")


@dataclass(frozen=True)
class AsrConfig:
    """One way to serve the whisper model; `name` labels it in the table."""

    name: str
    instances: int = 1
    cpu_threads: int = 2
    dynamic_batching: bool = False
    max_batch_size: int = 4
    queue_delay_us: int = 20000


DEFAULT_CONFIGS = (
    AsrConfig("1x2threads"),
    AsrConfig("2x1thread", instances=2, cpu_threads=1),
    AsrConfig("2x2threads", instances=2, cpu_threads=2),
    AsrConfig("1x2threads+batching", dynamic_batching=True),
)


@dataclass(frozen=True)
class AsrBenchRow:
    config: str
    concurrency: int
    requests: int
    audio_s: float
    wall_s: float

    @property
    def realtime(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s > 0 else 0.0


def patch_config(text: str, cfg: AsrConfig) -> str:
    """config.pbtxt text with cfg's instance count, threads and (optionally) dynamic batching."""
    text = re.sub(r"instance_group\s*\[[^\]]*\]", f"instance_group [ {{ kind: KIND_CPU, count: {cfg.instances} }} ]",
                  text)
    text = re.sub(r'(key: "cpu_threads" value: \{ string_value: )"\d+"', rf'\g<1>"{cfg.cpu_threads}"', text)
    if cfg.dynamic_batching:
        text = re.sub(r"max_batch_size:\s*\d+", f"max_batch_size: {cfg.max_batch_size}", text)
        # Windows differ in length; without ragged batching Triton would only group equal shapes.
        text = text.replace('name: "AUDIO_16K"', 'name: "AUDIO_16K"\n    allow_ragged_batch: true', 1)
        text += f"\ndynamic_batching {{ max_queue_delay_microseconds: {cfg.queue_delay_us} }}\n"
    return text


def model_repository_copy(dest: Path, cfg: AsrConfig, source: Path = MODEL_REPOSITORY) -> Path:
    """`dest` holding a copy of the whisper model folder with cfg applied; returns `dest`."""
    target = dest / "whisper"
    shutil.copytree(source / "whisper", target, ignore=shutil.ignore_patterns("__pycache__"))
    config = target / "config.pbtxt"
    config.write_text(patch_config(config.read_text(), cfg))
    return dest


def speech_clip(seconds: float) -> np.ndarray:
    """About `seconds` of espeak-ng lecture speech, 16 kHz float32 (trimmed to length)."""
    text = BENCH_TEXT * max(1, int(seconds // 12) + 1)
    pcm, rate = espeak(text, voice=None, rate_wpm=150)
    audio = prepare_audio(pcm, rate)
    return audio[: int(seconds * 16000)]


def measure(url: str, audio: np.ndarray, requests: int, concurrency: int) -> float:
    """Wall seconds to transcribe `requests` copies of `audio` from `concurrency` threads."""
    clients = [TritonTranscriber(url) for _ in range(concurrency)]
    try:
        # Warm every instance (first call pays CTranslate2's allocations), untimed.
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda c: c.transcribe(audio[: 16000 * 3]), clients))
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda i: clients[i % concurrency].transcribe(audio), range(requests)))
        return time.perf_counter() - t0
    finally:
        for client in clients:
            client.close()


def bench_config(cfg: AsrConfig, audio: np.ndarray, concurrencies: tuple[int, ...], requests: int,
                 work_dir: Path) -> list[AsrBenchRow]:
    """Start Triton with cfg, measure each concurrency, stop Triton."""
    repo = model_repository_copy(work_dir / "models", cfg)
    grpc_port = free_port()
    proc = start_triton(work_dir, grpc_port, free_port(), free_port(), model_repository=repo,
                        models=["whisper"], ready_timeout_s=180)
    try:
        url = f"127.0.0.1:{grpc_port}"
        audio_s = audio.size / 16000
        return [AsrBenchRow(cfg.name, c, requests, audio_s * requests, measure(url, audio, requests, c))
                for c in concurrencies]
    finally:
        stop_triton(proc)


def run_asr_bench(configs: tuple[AsrConfig, ...] = DEFAULT_CONFIGS, concurrencies: tuple[int, ...] = (1, 2, 4),
                  requests: int = 8, clip_s: float = 20.0, work_dir: Path | None = None) -> list[AsrBenchRow]:
    """Rows for every (config, concurrency); each config runs on its own fresh server."""
    with tempfile.TemporaryDirectory(prefix="quilt-bench-asr-") as tmp:
        root = work_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        audio = speech_clip(clip_s)
        rows: list[AsrBenchRow] = []
        for i, cfg in enumerate(configs):
            rows += bench_config(cfg, audio, concurrencies, requests, root / f"cfg{i}")
        return rows


def summary_line(rows: list[AsrBenchRow]) -> str:
    """`asr: realtime_1=X realtime_best=Y best_config=NAME@cC`; realtime_1 is the first config at concurrency 1."""
    base = next((r for r in rows if r.concurrency == 1), rows[0])
    best = max(rows, key=lambda r: r.realtime)
    return (f"asr: realtime_1={base.realtime:.1f} realtime_best={best.realtime:.1f} "
            f"best_config={best.config}@c{best.concurrency}")
