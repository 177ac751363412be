"""`quilt bench keyframes`: how well the decoder finds Quilt-style key frames on lectures with known truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from .ui import console, progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench keyframes` to the `quilt bench` sub-parsers."""
    parser = sub.add_parser(
        "keyframes", help="key-frame accuracy on generated lectures with known segments",
        description="Generate lectures mixing stills, pans, zooms, fades, a presenter camera and repeated "
                    "slides; decode them and score the key frames against the truth.")
    parser.add_argument("--count", type=int, default=5, help="how many lectures (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first lecture")
    parser.add_argument("--out", default="build/bench-keyframes", metavar="DIR", help="where the lectures go")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from quilt.evaluation.keyframes import KeyframeScores, evaluate
    from quilt.stages.decode.keyframes import decode_frames
    from quilt.testing.eval_suite import make_eval_lectures  # the generator lives with the test media

    out = Path(args.out)
    table = Table(title="key frames on generated lectures")
    for column in ("lecture", "still segments", "exactly one", "key frames", "duplicates", "in motion"):
        table.add_column(column)
    total = KeyframeScores(0, 0, 0, 0, 0, 0)
    with progress_bar() as progress:
        task = progress.add_task("generate", total=None, step="")
        lectures = make_eval_lectures(out, args.count, args.seed)
        progress.update(task, description="decode", total=len(lectures), completed=0)
        for path, segments in lectures:
            progress.update(task, step=path.name)
            scores = evaluate(decode_frames(path).chunks, segments)
            total = total.add(scores)
            table.add_row(path.name, str(scores.still_segments), str(scores.one_keyframe), str(scores.keyframes),
                          str(scores.duplicates), str(scores.in_motion))
            progress.advance(task)
    console.print(table)
    print(f"keyframes: one_keyframe_rate={total.one_keyframe_rate:.3f} "
          f"duplicate_fraction={total.duplicate_fraction:.3f} in_motion={total.in_motion} "
          f"still_segments={total.still_segments} lectures={args.count}", flush=True)
    return 0
