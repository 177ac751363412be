"""`quilt demo`: start the embedded stack, submit the sample lectures, wait for their pairs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.table import Table

from quilt.adapters.bucket import configured_bucket
from quilt.adapters.config import Settings, load_settings
from quilt.adapters.status import STAGES, read_video_status
from quilt.adapters.topic_reader import read_all
from quilt.core import keys, topics
from quilt.stack.launcher import Stack

from .stack_cmds import stack_table
from .ui import console, err_console, progress_bar


def ensure_samples(folder: Path, count: int) -> list[Path]:
    """`count` sample lectures from `folder`, generated there first when it has too few.

    The folder (`--samples`, default ./samples) is relative to the current folder: the checkout's
    samples/ under `make demo`, and a folder of the caller's own when quilt is installed from a wheel.
    """
    found = sorted(folder.glob("*.mp4"))
    if len(found) >= count:
        return found[:count]
    from quilt.testing.lecture import main as make_samples  # generated, never stored in git

    make_samples(["--out", str(folder), "--count", str(count)])
    return sorted(folder.glob("*.mp4"))[:count]


def pair_topic_counts(settings: Settings, timeout_s: float = 5.0) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in read_all(settings, topics.PAIRS, idle_timeout_s=timeout_s):
        video_id = (record.key or b"").decode()
        counts[video_id] = counts.get(video_id, 0) + 1
    return counts


def wait_for(settings: Settings, video_ids: list[str], timeout_s: float) -> dict[str, dict]:
    store = configured_bucket(settings)
    finished: dict[str, dict] = {}
    with progress_bar() as progress:
        task = progress.add_task("pipeline", total=len(video_ids) * len(STAGES), step="")
        deadline = time.monotonic() + timeout_s
        while len(finished) < len(video_ids) and time.monotonic() < deadline:
            done_stages = 0
            for vid in video_ids:
                stages = read_video_status(store, vid)
                done_stages += sum(stages.get(s, {}).get("state") == "done" for s in STAGES)
                failed = any(e.get("state") == "failed" for e in stages.values())
                if failed or stages.get("aligner", {}).get("state") == "done":
                    finished[vid] = stages
            progress.update(task, completed=done_stages, step=f"{len(finished)}/{len(video_ids)} videos")
            time.sleep(1.0)
    return finished


def demo_state(finished: bool, stages: dict[str, dict], pairs: int) -> tuple[bool, str]:
    """Whether one sample lecture came through, and the state the demo table shows for it.

    A lecture whose every picture and text repeats a video the stack already paired (the samples
    submitted again from another checkout: the path, and so the video id, differs) rightly gives
    no new pairs; the aligner says so by counting its repeated frames and dropped duplicates.
    """
    if not finished:
        return False, "timeout"
    failed = [f"{s}: {e.get('reason')}" for s, e in stages.items() if e.get("state") == "failed"]
    if failed:
        return False, "; ".join(failed)
    if pairs >= 1:
        return True, "done"
    detail = stages.get("aligner", {}).get("detail", {})
    if int(detail.get("repeated_frames", 0)) > 0 and int(detail.get("duplicates", 0)) > 0:
        return True, "done: a repeat of a lecture already paired, no new pairs"
    return False, "done, but no pairs"


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: the submitter loads PyAV, and every `quilt` command registers this module's parser.
    from quilt.gallery import build as gallery
    from quilt.ops.submit import Submitter, build_request

    settings = load_settings()
    began = time.monotonic()
    samples = ensure_samples(Path(args.samples), args.count)
    if not samples:
        raise SystemExit(f"no sample lectures in {args.samples}")
    stack = Stack(settings, say=lambda line: err_console.print(line))
    stack.up()
    try:
        requests = [build_request(str(path)) for path in samples]
        submitted_at = time.monotonic()
        submitter = Submitter(settings)
        submitter.send(requests)
        submitter.close()
        video_ids = [r.video_id for r in requests]
        finished = wait_for(settings, video_ids, args.timeout)
        seconds = time.monotonic() - submitted_at
        store = configured_bucket(settings)
        on_topic = pair_topic_counts(settings)
        table = Table(title="demo")
        for column in ("video", "source", "chunks", "kept", "medical sentences", "pairs (bucket)",
                       "pairs (topic)", "state"):
            table.add_column(column)
        total_pairs = 0
        verdicts: list[bool] = []
        for request in requests:
            vid = request.video_id
            stages = finished.get(vid, {})
            in_bucket = sum(1 for _ in store.list(keys.pair_records_folder(vid)))
            total_pairs += in_bucket
            detail = stages.get("aligner", {}).get("detail", {})
            came_through, state = demo_state(vid in finished, stages, in_bucket)
            verdicts.append(came_through)
            table.add_row(vid, Path(request.source).name,
                          str(stages.get("decoder", {}).get("detail", {}).get("chunks", "")),
                          str(detail.get("kept_frames", "")), str(detail.get("medical_sentences", "")),
                          str(in_bucket), str(on_topic.get(vid, 0)), state)
        console.print(table)
        console.print(stack_table(stack))
        shown = gallery.from_bucket(store, Path(args.gallery), limit=200)
        console.print(f"gallery of {shown} pairs: {Path(args.gallery).resolve() / 'index.html'}")
    finally:
        if not args.keep_running:
            stack.down()
    ok = len(verdicts) == len(requests) and all(verdicts)
    console.print(f"total wall time {time.monotonic() - began:.1f} s (stack start-up included)")
    print(f"demo: pairs={total_pairs} videos={len(requests)} seconds={seconds:.1f}", flush=True)
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt demo` to the `quilt` sub-parsers."""
    parser = sub.add_parser("demo", help="run the sample lectures through the embedded stack",
                            description="Start the stack, submit the sample lectures, wait for their pairs, "
                                        "print a summary and stop the stack.")
    parser.add_argument("--samples", default="samples", help="folder of sample lectures (generated if empty)")
    parser.add_argument("--count", type=int, default=2, help="how many sample lectures")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the pairs")
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up afterwards")
    parser.add_argument("--gallery", default="build/gallery", metavar="DIR", help="where the page of pairs goes")
    parser.set_defaults(handler=run)
