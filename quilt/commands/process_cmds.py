"""`quilt process` and `quilt bench process`."""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from rich.table import Table

from quilt.config import load_settings
from quilt.process import STEPS, Processor, VideoOutcome
from quilt.stages.asr import FasterWhisperTranscriber
from quilt.stages.fetch import Source, s3_store_for
from quilt.stages.histo import LocalHistoScorer
from quilt.stages.llm_denoise import LlmDenoiser
from quilt.store import S3Store

from .ui import console, progress_bar


def run_sources(sources: list[str], out_dir: Path, threshold: float | None = None, pad_s: float | None = None,
                max_lag_s: float | None = None, max_words: int | None = None,
                dedup_jaccard: float | None = None) -> list[VideoOutcome]:
    """Unset pairing options come from the settings (QUILT_PAIR_* or quilt.toml)."""
    outcomes = []
    with progress_bar() as progress:
        task = progress.add_task("process", total=len(sources) * len(STEPS), step="")

        def on_step(video: str, step: str) -> None:
            progress.update(task, step=f"{video}: {step}")
            progress.advance(task)

        settings = load_settings()

        def s3_for(source: Source) -> S3Store:
            return s3_store_for(source, settings.s3, settings.s3_access_key, settings.s3_secret_key,
                                secure=settings.s3_secure)

        llm = (LlmDenoiser(settings.llm_base_url, settings.llm_model, api_key=settings.llm_api_key or None,
                           timeout_s=settings.llm_timeout_s) if settings.llm_base_url else None)
        processor = Processor(out_dir, transcriber=FasterWhisperTranscriber(initial_prompt=settings.whisper_prompt()),
                              scorer=LocalHistoScorer(settings.histo_model),
                              histo_threshold=settings.histo_threshold if threshold is None else threshold,
                              pad_s=settings.pair_pad_s if pad_s is None else pad_s,
                              on_step=on_step, s3_for=s3_for, llm=llm,
                              overlap_s=settings.asr_overlap_s, rescue=settings.term_rescue(),
                              non_english=settings.non_english,
                              fetch_allow=settings.fetch_allowlist(), media_limits=settings.media_limits(),
                              max_lag_s=settings.pair_max_lag_s if max_lag_s is None else max_lag_s,
                              max_words=settings.pair_max_words if max_words is None else max_words,
                              dedup_jaccard=settings.pair_dedup_jaccard if dedup_jaccard is None else dedup_jaccard,
                              break_tolerance_s=settings.pair_break_tolerance_s)
        try:
            for number, source in enumerate(sources, start=1):
                outcomes.append(processor.run(source))
                progress.update(task, completed=number * len(STEPS))
        finally:
            processor.close()
    return outcomes


def outcome_table(outcomes: list[VideoOutcome]) -> Table:
    table = Table(title="quilt process")
    for column in ("video", "video s", "chunks", "kept", "sentences", "medical", "pairs", "dups dropped",
                   "lag s", "asr retries", "asr holes", "asr rescued", "cut", "wall s", "error"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.video_id or o.source, f"{o.duration_s:.1f}", str(o.chunks), str(o.kept),
                      str(o.sentences), str(o.medical), str(o.pairs), str(o.duplicates), f"{o.lag_s:+.2f}",
                      str(o.asr_retries), str(o.asr_holes), str(o.asr_rescued), str(o.cut), f"{o.seconds:.1f}",
                      f"[red]{o.error}[/]" if o.error else "")
    return table


def process(args: argparse.Namespace) -> int:
    out_dir = Path(args.out)
    outcomes = run_sources(args.sources, out_dir, args.histo_threshold, args.pad, args.max_lag,
                           args.pair_max_words, args.dedup_jaccard)
    console.print(outcome_table(outcomes))
    console.print(f"wrote {out_dir / 'pairs.jsonl'} and {out_dir / 'images'}/")
    return 1 if any(o.error for o in outcomes) else 0


def bench_process(args: argparse.Namespace) -> int:
    """Video seconds per wall second of the one-process pipeline, with the time per step."""
    out_dir = Path(args.out)
    began = time.monotonic()
    outcomes = run_sources(args.sources, out_dir)
    wall = time.monotonic() - began
    video_s = sum(o.duration_s for o in outcomes)
    steps: dict[str, float] = {}
    for o in outcomes:
        for step, seconds in o.step_seconds.items():
            steps[step] = steps.get(step, 0.0) + seconds
    report = {
        "videos": len(outcomes), "video_seconds": round(video_s, 2), "wall_seconds": round(wall, 2),
        "video_seconds_per_wall_second": round(video_s / wall, 2) if wall else None,
        "pairs": sum(o.pairs for o in outcomes),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "step_seconds": {k: round(v, 2) for k, v in steps.items()},
        "errors": [o.error for o in outcomes if o.error],
    }
    console.print(outcome_table(outcomes))
    print(json.dumps(report, indent=2))
    return 1 if report["errors"] else 0
