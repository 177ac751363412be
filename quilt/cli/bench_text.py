"""`quilt bench text`: medical-term accuracy, WER and false corrections of ASR + denoiser on held-out narration."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table

from .ui import console, progress_bar

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from quilt.evaluation.bench.text_corpus import BenchSentence
    from quilt.evaluation.bench.text_eval import Scores, Utterance
    from quilt.stages.asr.whisper import Transcriber
    from quilt.stages.common.lexicon import Lexicon

DESCRIPTION = ("Speak held-out histopathology narration in several voices, transcribe it with Whisper (through "
               "Triton unless --no-triton), denoise it and report medical-term accuracy, WER, false corrections, "
               "chatter dropping and the ASR realtime factor.")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench text` to the `quilt bench` sub-parsers."""
    parser = sub.add_parser("text", help="ASR + denoiser accuracy on held-out narration spoken by espeak-ng",
                            description=DESCRIPTION)
    parser.add_argument("--no-triton", action="store_true", help="run Whisper in-process instead of in Triton")
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N sentences")
    parser.add_argument("--voices", metavar="V:WPM,...",
                        help="espeak-ng voices and speeds (default en-us:140,en-us:170,en-gb:150,en-gb-x-rp:160)")
    parser.add_argument("--dev", action="store_true", help="use the DEV tuning set instead of the held-out set")
    parser.add_argument("--screen", action="store_true",
                        help="show each sentence on a slide spelling about half its terms, read it with OCR and "
                             "compare term accuracy without and with that screen vocabulary (needs tesseract)")
    parser.add_argument("--verbose", action="store_true", help="print every reference, transcript and output")
    parser.set_defaults(handler=run)


def parse_voices(text: str) -> list[tuple[str, int]]:
    """`en-us:140,en-gb:150` -> [("en-us", 140), ("en-gb", 150)]."""
    out = []
    for part in text.split(","):
        voice, _, wpm = part.strip().partition(":")
        out.append((voice, int(wpm or 150)))
    return out


def domain_prompt() -> tuple[str | None, str]:
    """The pipeline's default domain prompt (quilt/stages/asr/prompt.py), and its name for the report."""
    from quilt.stages.asr.prompt import default_prompt

    return default_prompt(), "the domain prompt (quilt/stages/asr/prompt.py)"


@contextmanager
def _transcriber(no_triton: bool) -> Iterator[Transcriber]:
    from quilt.stages.asr.whisper import FasterWhisperTranscriber

    if no_triton:
        yield FasterWhisperTranscriber()
        return
    from quilt.stack.ports import free_port
    from quilt.stack.triton import start_triton, stop_triton
    from quilt.stages.asr.whisper import TritonTranscriber

    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="quilt-bench-text-") as tmp:
        proc = start_triton(Path(tmp), grpc_port, http_port, metrics_port, models=["whisper"])
        client = TritonTranscriber(f"127.0.0.1:{grpc_port}")
        try:
            yield client
        finally:
            client.close()
            stop_triton(proc)


def _row(table: Table, label: str, s: Scores) -> None:
    precision, recall = s.chatter_drop()
    table.add_row(label, str(len(s.utterances)), f"{s.term_accuracy(False):.3f}", f"{s.term_accuracy(True):.3f}",
                  f"{s.wer(False):.3f}", f"{s.wer(True):.3f}", f"{s.false_correction_rate():.4f}",
                  f"{precision:.2f}/{recall:.2f}", f"{s.realtime():.1f}")


def run(args: argparse.Namespace) -> int:
    if args.screen and shutil.which("tesseract") is None:  # before Whisper or Triton is started for nothing
        console.print("[red]--screen needs tesseract (Debian: apt-get install tesseract-ocr)[/red]")
        return 2
    from quilt.evaluation.bench.text_corpus import DEV, HELD_OUT
    from quilt.evaluation.bench.text_eval import VOICES, run_bench
    from quilt.stages.common.corrector import load_lexicon

    corpus = list(DEV if args.dev else HELD_OUT)[: args.limit or None]
    voices = parse_voices(args.voices) if args.voices else list(VOICES)
    prompt, prompt_name = domain_prompt()
    lexicon = load_lexicon()
    backend = "in-process faster-whisper" if args.no_triton else "Triton"
    console.print(f"{'DEV' if args.dev else 'held-out'} set: {len(corpus)} sentences x {len(voices)} voices, "
                  f"ASR via {backend}, initial prompt: {prompt_name}")
    with _transcriber(args.no_triton) as transcriber, progress_bar() as progress:
        # Untimed warm-up: the first request pays for model loading, which is not ASR speed.
        transcriber.transcribe(np.zeros(16000, dtype=np.float32), 16000, initial_prompt=prompt)
        task = progress.add_task("bench text", total=len(corpus) * len(voices), step="")

        def advance(utt: Utterance) -> None:
            progress.update(task, step=utt.voice)
            progress.advance(task)
            if args.verbose:
                console.print(f"[dim]{utt.voice}[/dim] ref: {utt.sentence.text}\n  raw: {utt.raw}\n"
                              f"  out: {utt.corrected} kept={utt.kept}")

        if args.screen:
            return _run_screen(args, transcriber, corpus, voices, lexicon, prompt, progress, task)
        scores = run_bench(transcriber, corpus, voices, lexicon, prompt, advance)
    table = Table(title=f"text on {'DEV' if args.dev else 'held-out'} narration")
    for column in ("voice", "sentences", "terms raw", "terms", "WER raw", "WER", "false corr.",
                   "chatter drop P/R", "ASR x realtime"):
        table.add_column(column)
    for voice, wpm in voices:
        _row(table, f"{voice}@{wpm}", scores.for_voice(f"{voice}@{wpm}"))
    _row(table, "all", scores)
    console.print(table)
    print(scores.summary(), flush=True)
    return 0


def _run_screen(args: argparse.Namespace, transcriber: Transcriber, corpus: list[BenchSentence],
                voices: list[tuple[str, int]], lexicon: Lexicon, prompt: str | None, progress: Progress,
                task: TaskID) -> int:
    from quilt.evaluation.bench.screen_bench import ScreenScores, ScreenUtterance, run_screen_bench

    def advance(utt: ScreenUtterance) -> None:
        progress.update(task, step=utt.voice)
        progress.advance(task)
        if args.verbose:
            console.print(f"[dim]{utt.voice}[/dim] ref: {utt.sentence.text}\n  slide: {', '.join(utt.shown)} "
                          f"-> {', '.join(utt.vocabulary)}\n  plain: {utt.plain}\n  screen: {utt.screen}")

    scores = run_screen_bench(transcriber, corpus, voices, lexicon, prompt, on_progress=advance)
    table = Table(title=f"screen vocabulary on {'DEV' if args.dev else 'held-out'} narration")
    for column in ("voice", "shown terms", "with screen", "other terms", "with screen", "false corr.",
                   "with screen"):
        table.add_column(column)
    for voice, wpm in [*voices, ("all", 0)]:
        label = f"{voice}@{wpm}" if wpm else "all"
        part = scores if not wpm else ScreenScores([u for u in scores.utterances if u.voice == label])
        table.add_row(label, f"{part.term_accuracy(True, False):.3f}", f"{part.term_accuracy(True, True):.3f}",
                      f"{part.term_accuracy(False, False):.3f}", f"{part.term_accuracy(False, True):.3f}",
                      f"{part.false_correction_rate(False):.4f}", f"{part.false_correction_rate(True):.4f}")
    console.print(table)
    console.print(f"OCR: {len(corpus)} slides in {scores.ocr_s:.1f} s; shown terms found on screen: "
                  f"{scores.ocr_recall():.3f}")
    print(scores.summary(), flush=True)
    return 0
