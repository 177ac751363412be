"""The `quilt` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from quilt.config import SERVICES, ConfigError
from quilt.stages.types import StageError


def _wxh(text: str) -> tuple[int, int]:
    """`--size WxH` (parsed here so building the parser imports no benchmark code)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 854x480, got {text!r}") from None
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quilt", description="Turn narrated histopathology lectures into image-text pairs, continuously.",
        epilog="Settings come from QUILT_* environment variables or quilt.toml; see README.md.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stack = sub.add_parser("stack", help="manage the embedded stack (S3 store, broker, Triton, services)",
                           description="Start, stop or inspect the embedded stack on loopback.")
    stack.add_argument("action", choices=["up", "down", "status", "restart", "wipe"],
                       help="up: start everything; down: stop everything; status: health and memory; "
                            "restart COMPONENT: restart the S3 store, the broker, Triton or one service; "
                            "wipe: delete the data dir")
    stack.add_argument("component", nargs="?", choices=["s3", "broker", "triton", *SERVICES],
                       help="for restart: which component")

    submit = sub.add_parser("submit", help="publish video requests",
                            description="Publish one request per source to the requested-videos topic.")
    submit.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="a local file, http(s) URL, s3://bucket/key or YouTube video URL")

    subscribe = sub.add_parser("subscribe", help="ingest new videos from a source continuously",
                               description="Register a folder, s3:// prefix, YouTube channel or playlist; "
                                           "the fetcher polls it and submits each new video once.")
    subscribe.add_argument("source", help="folder, s3://bucket/prefix/, or YouTube channel/playlist URL")
    subscribe.add_argument("--interval", type=float, default=300.0, help="seconds between polls (default 300)")

    subs = sub.add_parser("subscriptions", help="list or remove subscriptions",
                          description="List the subscriptions, or remove one by id or source.")
    subs.add_argument("action", choices=["list", "remove"], help="what to do")
    subs.add_argument("target", nargs="?", help="for remove: the subscription id or source")

    status = sub.add_parser("status", help="progress per video and stage, with errors",
                            description="Show every video's state per stage, or one video in detail.")
    status.add_argument("video_id", nargs="?", help="show this video's stages in detail")
    status.add_argument("--no-lag", action="store_true", help="do not ask the broker for consumer lag")
    status.add_argument("--lag-only", action="store_true",
                        help="only the consumer lag per service group and topic (and its machine-readable line)")

    pairs = sub.add_parser("pairs", help="read the pair topic", description="Follow the pair topic.")
    pairs.add_argument("action", choices=["tail"], help="tail: print pairs as JSON lines as they arrive")
    pairs.add_argument("--from-beginning", action="store_true", help="start from the oldest pair")
    pairs.add_argument("--count", type=int, default=0, help="stop after this many pairs (0: never)")
    pairs.add_argument("--timeout", type=float, default=0.0, help="stop after this many seconds (0: never)")

    process = sub.add_parser("process", help="run every stage in one process (no broker, no Triton)",
                             description="Batch mode: the services' stage code in one process. Writes "
                                         "DIR/pairs.jsonl and DIR/images/.")
    process.add_argument("sources", nargs="+", metavar="SOURCE",
                         help="local file, http(s) URL, s3://bucket/key (QUILT_S3_* settings) or YouTube URL")
    process.add_argument("--out", required=True, metavar="DIR", help="output folder")
    process.add_argument("--histo-threshold", type=float, metavar="P",
                         help="keep frames whose calibrated histology probability is at least P "
                              "(default: the histo_threshold setting, 0.5)")
    process.add_argument("--pad", type=float, metavar="S",
                         help="seconds of speech before/after an image still paired with it (default: pair_pad_s, 1)")
    process.add_argument("--max-lag", type=float, metavar="S",
                         help="largest narrator lag (speech ahead of or behind the slides) estimated per video; "
                              "0 = off (default: pair_max_lag_s, 2)")
    process.add_argument("--pair-max-words", type=int, metavar="N",
                         help="split an image's speech into pairs of at most N words, never cutting a sentence "
                              "(default: pair_max_words, 60)")
    process.add_argument("--dedup-jaccard", type=float, metavar="J",
                         help="drop a pair whose image and text (word-pair Jaccard >= J) repeat a better pair "
                              "(default: pair_dedup_jaccard, 0.8)")

    bench = sub.add_parser("bench", help="benchmarks", description="Measure speed and memory.")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    bench_process = bench_sub.add_parser("process", help="throughput of `quilt process`",
                                         description="Video seconds per wall second and peak RSS of the "
                                                     "one-process pipeline.")
    bench_process.add_argument("sources", nargs="+", metavar="VIDEO", help="video files")
    bench_process.add_argument("--out", default="build/bench-process", help="scratch output folder")
    bench_decode = bench_sub.add_parser(
        "decode", help="the decoder against a plain full decode and Quilt's reference method",
        description="Per file, run in separate processes (1) the project's decoder (decode_frames + "
                    "iter_audio), (2) a plain PyAV decode of every frame to RGB and (3) Quilt's reference "
                    "method (OpenCV, SSIM on random crops of every frame pair); print wall time, speed, "
                    "peak RSS and chunks, then one line `decode: realtime=R vs_quilt=Q vs_full_decode=F "
                    "peak_rss_mb=M` (ratios above 1: the project's decoder is faster; Q is 0 with "
                    "--skip-quilt; RSS in MiB).")
    bench_decode.add_argument("files", nargs="*", metavar="FILE", help="video files")
    bench_decode.add_argument("--skip-quilt", action="store_true", help="leave out the (slow) reference method")
    cores = bench_decode.add_mutually_exclusive_group()
    cores.add_argument("--threads", type=int, default=0, metavar="N",
                       help="pin each run to N cores; FFmpeg's and OpenCV's thread counts follow (0: all cores)")
    cores.add_argument("--one-core", action="store_true",
                       help="pin each run to one core, core 0 when allowed (same as --threads 1)")
    bench_decode.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")
    bench_decode.add_argument("--generate", type=float, metavar="MINUTES",
                              help="first generate a lecture of about this length (40 s parts) and bench it too")
    bench_decode.add_argument("--out", default="build/bench-decode", metavar="DIR",
                              help="folder for --generate (default build/bench-decode)")
    bench_decode.add_argument("--size", type=_wxh, default=(854, 480), metavar="WxH",
                              help="--generate frame size (default 854x480)")
    bench_decode.add_argument("--fps", type=int, default=25, help="--generate frame rate (default 25)")
    keyframes = bench_sub.add_parser(
        "keyframes", help="key-frame accuracy on generated lectures with known segments",
        description="Generate lectures mixing stills, pans, zooms, fades, a presenter camera and repeated "
                    "slides; decode them and score the key frames against the truth.")
    keyframes.add_argument("--count", type=int, default=5, help="how many lectures (default 5)")
    keyframes.add_argument("--seed", type=int, default=0, help="seed of the first lecture")
    keyframes.add_argument("--out", default="build/bench-keyframes", metavar="DIR", help="where the lectures go")
    bench_text = bench_sub.add_parser(
        "text", help="ASR + denoiser accuracy on held-out narration spoken by espeak-ng",
        description="Speak held-out histopathology narration in several voices, transcribe it with Whisper "
                    "(through Triton unless --no-triton), denoise it and report medical-term accuracy, WER, "
                    "false corrections, chatter dropping and the ASR realtime factor.")
    bench_text.add_argument("--no-triton", action="store_true", help="run Whisper in-process instead of in Triton")
    bench_text.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N sentences")
    bench_text.add_argument("--voices", metavar="V:WPM,...",
                            help="espeak-ng voices and speeds (default en-us:140,en-us:170,en-gb:150,en-gb-x-rp:160)")
    bench_text.add_argument("--dev", action="store_true", help="use the DEV tuning set instead of the held-out set")
    bench_text.add_argument("--verbose", action="store_true", help="print every reference, transcript and output")
    bench_asr = bench_sub.add_parser(
        "asr", help="Whisper realtime factor through Triton per serving configuration",
        description="For each configuration (instance count, threads per instance, dynamic batching) start "
                    "Triton with a patched copy of the whisper model, send REQUESTS clips of espeak-ng speech "
                    "from each concurrency's client threads and print audio seconds per wall second, then one "
                    "line `asr: realtime_1=X realtime_best=Y best_config=NAME@cC` (realtime_1: the first "
                    "configuration at concurrency 1).")
    bench_asr.add_argument("--configs", nargs="*", metavar="NAME",
                           help="only these configurations (default: all: 1x2threads 2x1thread 2x2threads "
                                "1x2threads+batching)")
    bench_asr.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4], metavar="C",
                           help="client threads to try (default 1 2 4)")
    bench_asr.add_argument("--requests", type=int, default=8, help="requests per measurement (default 8)")
    bench_asr.add_argument("--clip", type=float, default=20.0, help="seconds of speech per request (default 20)")
    bench_asr.add_argument("--out", metavar="DIR", help="keep model copies and Triton logs here (default: temp)")

    bench_histo = bench_sub.add_parser(
        "histo", help="histology classifier and magnification accuracy on held-out frames",
        description="Score the held-out split of tests/media/tissue_set.py (generated H&E, IHC and special-stain "
                    "tissue; real skimage images never trained on; slides, charts, screens, the presenter) with a "
                    "histology model, estimate magnification on held-out tissue of known nucleus size, print "
                    "per-kind tables and one line `histo: accuracy=A auc=U brier=B ece=E magnification_acc=M "
                    "ms_per_frame=T`.")
    bench_histo.add_argument("--model", default="embedded", metavar="SPEC",
                             help="'embedded' (default), a JSON model from scripts/train_histo.py, "
                                  "or package.module:factory returning a HistoScorer")
    bench_histo.add_argument("--count", type=int, default=60, metavar="N",
                             help="held-out frames per class, and magnification frames (default 60; "
                                  "160 = the held-out set in the model file)")

    bench_impurity = bench_sub.add_parser(
        "impurity", help="impurity tags and field-of-view crops on generated frames with known truth",
        description="Generate clean H&E and IHC frames, slide-viewer windows, text overlays, caption bands, "
                    "arrows, 2x1 and 2x2 figures and presenter frames (tests/media/impure.py), tag and crop each, "
                    "print precision and recall per tag, then one line `impurity: min_precision=P min_recall=R "
                    "crop_iou_min=I crop_iou_mean=M frames=N crops=C`.")
    bench_impurity.add_argument("--seeds", type=int, default=10, metavar="N",
                                help="seeds per frame kind (10 kinds each; default 10 = 100 frames)")

    from quilt.commands import (  # argparse and rich only at import time
        bench_scale,
        bench_throughput,
        bench_train,
        dlq_cmd,
        search_cmd,
        takedown_cmd,
    )
    bench_scale.add_parser(bench_sub)
    bench_train.add_parser(bench_sub)
    bench_throughput.add_parser(bench_sub)
    search_cmd.add_parser(sub)
    dlq_cmd.add_parser(sub)
    takedown_cmd.add_parser(sub)

    gallery = sub.add_parser("gallery", help="an HTML page of the newest pairs",
                             description="Write DIR/index.html showing the newest pairs (image, text with "
                                         "corrections marked, what Whisper heard, video and interval, histology "
                                         "and alignment scores, magnification, sub-pathology, impurity tags; "
                                         "filters by video and tag), from the bucket or a `quilt process` folder. "
                                         "--serve PORT serves it live on 127.0.0.1 instead, re-reading the pairs "
                                         "on every page load.")
    gallery.add_argument("--from", dest="source", metavar="DIR",
                         help="a `quilt process` output folder (default: the stack's bucket)")
    gallery.add_argument("--out", default="build/gallery", metavar="DIR", help="where the page goes")
    gallery.add_argument("--limit", type=int, default=200, help="how many pairs (default 200)")
    gallery.add_argument("--serve", type=int, metavar="PORT",
                         help="serve the newest pairs live on 127.0.0.1:PORT instead of writing --out "
                              "(0: a free port)")

    evaluate = sub.add_parser(
        "eval", help="score a `quilt process` folder against lectures with known truth",
        description="Match each pair in PAIRS_DIR/pairs.jsonl to its lecture's truth file and report pair "
                    "precision, recall of histology segments, leakage of non-histology frames, term accuracy and "
                    "the duplicate rate, per lecture and pooled. The last line is `eval: precision=P recall=R "
                    "leakage=L term_acc=T dup=D`. Truth files come from `python -m tests.media.eval_lectures`.")
    evaluate.add_argument("pairs_dir", metavar="PAIRS_DIR",
                          help="a `quilt process --out` folder (pairs.jsonl + images/)")
    evaluate.add_argument("--truth", nargs="+", required=True, metavar="GT.json", help="truth files, one per lecture")
    evaluate.add_argument("--json", metavar="PATH",
                          help="also write the numbers (pooled and per lecture) to this JSON file")
    evaluate.add_argument("--verbose", action="store_true",
                          help="list every pair that is not correct, every missed segment and every missing term")

    demo = sub.add_parser("demo", help="run the sample lectures through the embedded stack",
                          description="Start the stack, submit the sample lectures, wait for their pairs, "
                                      "print a summary and stop the stack.")
    demo.add_argument("--samples", default="samples", help="folder of sample lectures (generated if empty)")
    demo.add_argument("--count", type=int, default=2, help="how many sample lectures")
    demo.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the pairs")
    demo.add_argument("--keep-running", action="store_true", help="leave the stack up afterwards")
    demo.add_argument("--gallery", default="build/gallery", metavar="DIR", help="where the page of pairs goes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except (ConfigError, StageError) as err:
        print(f"quilt: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - unreachable servers get one clear line, not a traceback
        hint = unreachable_hint(err)
        if hint is None:
            raise
        print(f"quilt: {hint}", file=sys.stderr)
        return 3


def unreachable_hint(err: Exception) -> str | None:
    """A readable message when the S3 store or the broker cannot be reached, else None."""
    from kafka.errors import KafkaTimeoutError
    from urllib3.exceptions import MaxRetryError

    from quilt.config import load_settings

    settings = load_settings()
    if isinstance(err, MaxRetryError):
        return f"cannot reach the S3 store at {settings.s3}: is the stack up? (`quilt stack up`)"
    if isinstance(err, KafkaTimeoutError):
        return f"cannot reach the Kafka broker at {settings.kafka}: is the stack up? (`quilt stack up`)"
    return None


# `quilt bench NAME` runs quilt/commands/bench_NAME.py's run(args); `bench process` lives in process_cmds.
_BENCH_MODULES = ("keyframes", "text", "asr", "histo", "impurity", "train", "throughput", "scale", "decode")


def dispatch(args: argparse.Namespace) -> int:
    from quilt.stack.launcher import StackError

    try:
        if args.command == "stack":
            from quilt.commands import stack_cmds
            return stack_cmds.run(args)
        if args.command in ("submit", "subscribe", "subscriptions"):
            from quilt.commands import ingest_cmds
            return int(getattr(ingest_cmds, args.command)(args))
        if args.command == "status":
            from quilt.commands import watch_cmds
            return watch_cmds.status(args)
        if args.command == "pairs":
            from quilt.commands import watch_cmds
            return watch_cmds.pairs_tail(args)
        if args.command == "process":
            from quilt.commands import process_cmds
            return process_cmds.process(args)
        if args.command == "search":
            from quilt.commands import search_cmd
            return search_cmd.run(args)
        if args.command == "dlq":
            from quilt.commands import dlq_cmd
            return dlq_cmd.run(args)
        if args.command == "takedown":
            from quilt.commands import takedown_cmd
            return takedown_cmd.run(args)
        if args.command == "bench" and args.bench in _BENCH_MODULES:
            from importlib import import_module
            return int(import_module(f"quilt.commands.bench_{args.bench}").run(args))
        if args.command == "bench":
            from quilt.commands import process_cmds
            return process_cmds.bench_process(args)
        if args.command == "gallery":
            from quilt.commands import gallery_cmd
            return gallery_cmd.run(args)
        if args.command == "eval":
            from quilt.commands import eval_cmd
            return eval_cmd.run(args)
        if args.command == "demo":
            from quilt.commands import demo
            return demo.run(args)
    except StackError as err:
        print(f"quilt: {err}", file=sys.stderr)
        return 2
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
