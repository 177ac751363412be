"""`quilt bench keyframes`: how well the decoder finds Quilt-style key frames on lectures with known truth."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from .arg_types import width_by_height
from .ui import console, progress_bar

if TYPE_CHECKING:
    from quilt.evaluation.keyframes import KindCoverage

GENERATORS = {"tuning": ("tuning",), "field": ("field",), "both": ("tuning", "field")}

EPILOG = """\
Generators: "tuning" (default) is the tuning generator's key-frame suite (stills with pointers,
annotations and fades, fast pans and zooms, a presenter camera, repeats; 320x240 at 10 fps).
"field" is the independent field lectures (quilt.testing.field_lectures, --field-split, from
index --seed): histology shown shaking, drifting in a slow zoom with pan, framed in a slide, in
two panels, under a webcam or letterboxed, mostly 720p at 30 fps. "both" runs the two.

Output: a table per lecture, a table per nuisance kind with the share of histology segments
given at least one key frame by this decoder ("ours") and by Quilt's reference method
("quilt"), then one `keyframes-kind: generator=G kind=K segments=N ours=X quilt=Y` line per
kind, one `keyframes-histology: generator=G segments=N ours=X quilt=Y` line per generator and
for all, and last `keyframes: one_keyframe_rate=... duplicate_fraction=... in_motion=...
still_segments=... lectures=N`, pooled over every lecture run. quilt=n/a with --skip-quilt.
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench keyframes` to the `quilt bench` sub-parsers."""
    parser = sub.add_parser(
        "keyframes", help="key-frame accuracy on generated lectures with known segments",
        description="Generate lectures with known segments, decode them and score the key frames against the "
                    "truth, per nuisance kind, beside Quilt's reference method.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5, help="how many lectures per generator (default 5)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the first tuning-suite lecture; index of the first field lecture")
    parser.add_argument("--generator", choices=sorted(GENERATORS), default="tuning",
                        help="which lectures: tuning (default), field or both (see below)")
    parser.add_argument("--field-split", choices=("tuning", "heldout"), default="tuning",
                        help="split of the field lectures (default tuning: adjust on it; heldout is only scored)")
    parser.add_argument("--field-size", type=width_by_height, metavar="WxH",
                        help="render the field lectures at this size instead of their own (quick checks)")
    parser.add_argument("--field-fps", type=int, metavar="N", help="and at this frame rate")
    parser.add_argument("--skip-quilt", action="store_true", help="do not run Quilt's reference method")
    parser.add_argument("--out", default="build/bench-keyframes", metavar="DIR", help="where the lectures go")
    parser.set_defaults(handler=run)


@dataclass
class _Coverage:
    ours: KindCoverage
    quilt: KindCoverage | None = None
    lectures: list[str] = field(default_factory=list)


def _share(coverage: KindCoverage | None, kind: str | None = None) -> str:
    return "n/a" if coverage is None else f"{coverage.share(kind):.3f}"


def run(args: argparse.Namespace) -> int:
    from quilt.evaluation.bench.quilt_reference import reference_chunks
    from quilt.evaluation.keyframes import KeyframeScores, KindCoverage, evaluate, histology_coverage
    from quilt.stages.decode.keyframes import decode_frames
    from quilt.testing.eval_suite import make_suite  # the generators live with the test media

    out = Path(args.out)
    table = Table(title="key frames on generated lectures")
    for column in ("lecture", "still segments", "exactly one", "key frames", "duplicates", "in motion",
                   "histology covered", "quilt covered"):
        table.add_column(column)
    total = KeyframeScores(0, 0, 0, 0, 0, 0)
    coverage: dict[str, _Coverage] = {}
    lectures_run = 0
    with progress_bar() as progress:
        task = progress.add_task("generate", total=None, step="")
        for generator in GENERATORS[args.generator]:
            progress.update(task, description=f"generate {generator}", total=None, completed=0)
            suite = make_suite(generator, out / generator, args.count, args.seed, args.field_split,
                               args.field_size, args.field_fps)
            progress.update(task, description=f"decode {generator}", total=len(suite), completed=0)
            mine = coverage.setdefault(generator, _Coverage(KindCoverage(), None if args.skip_quilt
                                                            else KindCoverage()))
            for lecture in suite:
                progress.update(task, step=lecture.path.name)
                chunks = decode_frames(lecture.path).chunks
                scores = evaluate(chunks, lecture.segments)
                total = total.add(scores)
                ours = histology_coverage([span for c in chunks for span in c.spans()], lecture.labelled)
                mine.ours = mine.ours.add(ours)
                quilt_cell = "n/a"
                if mine.quilt is not None:
                    reference = reference_chunks(lecture.path, threads=1)
                    theirs = histology_coverage([(c.t_start, c.t_end) for c in reference.chunks], lecture.labelled)
                    mine.quilt = mine.quilt.add(theirs)
                    quilt_cell = f"{sum(theirs.covered.values())}/{theirs.total}"
                table.add_row(lecture.path.name, str(scores.still_segments), str(scores.one_keyframe),
                              str(scores.keyframes), str(scores.duplicates), str(scores.in_motion),
                              f"{sum(ours.covered.values())}/{ours.total}", quilt_cell)
                lectures_run += 1
                progress.advance(task)
    console.print(table)
    _print_kinds(coverage)
    print(f"keyframes: one_keyframe_rate={total.one_keyframe_rate:.3f} "
          f"duplicate_fraction={total.duplicate_fraction:.3f} in_motion={total.in_motion} "
          f"still_segments={total.still_segments} lectures={lectures_run}", flush=True)
    return 0


def _print_kinds(coverage: dict[str, _Coverage]) -> None:
    """The per-kind table and lines: histology segments given a key frame, ours beside Quilt's."""
    from quilt.evaluation.keyframes import KindCoverage

    table = Table(title="histology segments given a key frame, per nuisance kind")
    for column in ("generator", "kind", "segments", "ours", "quilt"):
        table.add_column(column)
    lines: list[str] = []
    all_ours, all_quilt = KindCoverage(), KindCoverage()
    skip_quilt = any(c.quilt is None for c in coverage.values())
    for generator, found in coverage.items():
        for kind in sorted(found.ours.segments):
            row = (generator, kind, str(found.ours.segments[kind]), _share(found.ours, kind), _share(found.quilt, kind))
            table.add_row(*row)
            lines.append(f"keyframes-kind: generator={generator} kind={kind} segments={row[2]} ours={row[3]} "
                         f"quilt={row[4]}")
        all_ours = all_ours.add(found.ours)
        if found.quilt is not None:
            all_quilt = all_quilt.add(found.quilt)
    console.print(table)
    for line in lines:
        print(line)
    for generator, found in coverage.items():
        print(f"keyframes-histology: generator={generator} segments={found.ours.total} ours={_share(found.ours)} "
              f"quilt={_share(found.quilt)}")
    print(f"keyframes-histology: generator=all segments={all_ours.total} ours={_share(all_ours)} "
          f"quilt={_share(None if skip_quilt else all_quilt)}", flush=True)
