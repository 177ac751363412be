"""`quilt eval PAIRS_DIR --truth GT.json...`: score a `quilt process` folder against lectures with known truth."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from .ui import console, err_console

if TYPE_CHECKING:
    from quilt.evaluation.scoring import EvalPair, EvalReport, Lecture

# The scoring, imaging and source modules load Pillow, PyAV and scipy: each function imports what it
# uses, so that registering the command (every `quilt` run builds the whole parser) stays quick.

DESCRIPTION = ("Match each pair in PAIRS_DIR/pairs.jsonl to its lecture's truth file and report pair precision, "
               "recall of histology segments, leakage of non-histology frames, term accuracy and the duplicate "
               "rate, per lecture and pooled. The last line is `eval: precision=P recall=R leakage=L term_acc=T "
               "dup=D`. Truth files come from `python -m quilt.testing.eval_lectures` (the tuning generator) or "
               "`python -m quilt.testing.field_lectures` (a second generator sharing no rendering code).")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt eval` to the `quilt` sub-parsers."""
    parser = sub.add_parser("eval", help="score a `quilt process` folder against lectures with known truth",
                            description=DESCRIPTION)
    parser.add_argument("pairs_dir", metavar="PAIRS_DIR", help="a `quilt process --out` folder (pairs.jsonl + images/)")
    parser.add_argument("--truth", nargs="+", required=True, metavar="GT.json", help="truth files, one per lecture")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the numbers (pooled and per lecture) to this JSON file")
    parser.add_argument("--verbose", action="store_true",
                        help="list every pair that is not correct, every missed segment and every missing term")
    parser.set_defaults(handler=run)


class EvalInputError(Exception):
    """Input the harness cannot score; the message is for the user, no traceback."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_truth(path: Path) -> Lecture:
    """A truth file, tied to the video next to it (the path `quilt process` was most likely given)."""
    from quilt.evaluation.scoring import TruthError, lecture_from_dict
    from quilt.stages.fetch.sources import Source, video_id_for

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EvalInputError(f"cannot read truth {path}: {err}") from None
    try:
        name = data["file"] if isinstance(data, dict) and isinstance(data.get("file"), str) else ""
        video = (path.parent / name).resolve() if name else None
        video_id = video_id_for(Source("file", str(video))) if video else ""
        lecture = lecture_from_dict(data, str(video or ""), video_id)
    except TruthError as err:
        raise EvalInputError(f"truth {path}: {err}") from None
    if video is not None and video.is_file() and lecture.sha256 and _sha256(video) != lecture.sha256:
        # Scoring a regenerated or edited video against old truth would give meaningless numbers.
        raise EvalInputError(f"truth {path} describes another version of {video} (sha256 differs)")
    return lecture


def _image_phash(pairs_dir: Path, image: str) -> str:
    from quilt.core.imaging import decode_jpeg, phash

    try:
        return phash(decode_jpeg((pairs_dir / image).read_bytes()))
    except (OSError, ValueError):
        return ""


def load_pairs(pairs_dir: Path) -> tuple[list[EvalPair], int]:
    """The folder's pairs in file order with their images' phashes, and how many images could not be read."""
    from quilt.adapters.writers import read_pairs_jsonl
    from quilt.evaluation.scoring import EvalPair

    if not pairs_dir.is_dir():
        raise EvalInputError(f"no such folder: {pairs_dir}")
    jsonl = pairs_dir / "pairs.jsonl"
    if not jsonl.is_file():
        raise EvalInputError(f"{pairs_dir} has no pairs.jsonl (is it a `quilt process --out` folder?)")
    pairs: list[EvalPair] = []
    unreadable = 0
    try:
        records = read_pairs_jsonl(jsonl)
    except (OSError, ValueError) as err:  # ValueError names the line that is not a pair record
        raise EvalInputError(f"cannot read {jsonl}: {err}") from None
    for record in records:
        code = _image_phash(pairs_dir, record.image)
        unreadable += not code
        pairs.append(EvalPair(record.pair_id, record.video_id, record.source, float(record.t_start),
                              float(record.t_end), record.text, record.image_id or record.image, code,
                              tuple(int(v) for v in record.crop) if len(record.crop) == 4 else ()))
    return pairs, unreadable


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def report_table(report: EvalReport) -> Table:
    table = Table(title="quilt eval")
    for column in ("lecture", "pairs", "correct", "leaked", "wrong text", "straddling", "dup",
                   "expected", "recalled", "precision", "recall", "term acc"):
        table.add_column(column)
    for item in [*report.lectures, None]:
        scores = report.total if item is None else item.scores
        name = "[bold]all[/]" if item is None else item.lecture.name
        table.add_row(name, str(scores.pairs), str(scores.correct), str(scores.leaked), str(scores.wrong_text),
                      str(scores.straddling), str(scores.duplicates), str(scores.expected), str(scores.recalled),
                      _percent(scores.precision), _percent(scores.recall), _percent(scores.term_acc))
    return table


def miss_causes(report: EvalReport, pairs_dir: Path) -> dict[tuple[str, int], str]:
    """(lecture, segment) -> cause of each miss, from the folder's video traces ("untraced" without one)."""
    from quilt.evaluation.causes import miss_cause
    from quilt.evaluation.video_trace import read_trace

    causes = {}
    for item in report.lectures:
        trace = read_trace(pairs_dir, item.lecture.video_id) if item.lecture.video_id else None
        for index in item.missed:
            causes[(item.lecture.name, index)] = \
                miss_cause(item.lecture.segments[index], trace) if trace is not None else "untraced"
    return causes


def print_details(report: EvalReport, pairs: list[EvalPair], causes: dict[tuple[str, int], str]) -> None:
    """Every pair that is not correct, every missed segment and every missing term: where to look for causes."""
    by_id = {p.pair_id: p for p in pairs}
    lectures = {item.lecture.name: item.lecture for item in report.lectures}
    for verdict in report.verdicts:
        if verdict.outcome in ("correct", "unmatched") and not verdict.duplicate:  # unmatched: summed up below
            continue
        pair = by_id[verdict.pair_id]
        lec = lectures.get(verdict.lecture)
        kind = lec.segments[verdict.image_segment].kind if lec and verdict.image_segment is not None else "-"
        console.print(f"{verdict.lecture or pair.video_id} {pair.t_start:.1f}-{pair.t_end:.1f}s "
                      f"{verdict.outcome}{' duplicate' if verdict.duplicate else ''} image=#{verdict.image_segment}"
                      f"({kind}) text=#{verdict.text_segment} share={verdict.share:.2f}: {pair.text!r}",
                      markup=False, highlight=False)
    for item in report.lectures:
        for index in item.missed:
            seg = item.lecture.segments[index]
            cause = causes.get((item.lecture.name, index), "untraced")
            console.print(f"{item.lecture.name} missed #{index} {seg.t_start:.1f}-{seg.t_end:.1f}s ({seg.kind}) "
                          f"cause={cause}: {seg.narration!r}", markup=False, highlight=False)
        for index, terms in item.missing_terms.items():
            console.print(f"{item.lecture.name} #{index} lacks terms {terms}", markup=False, highlight=False)


def report_json(report: EvalReport, unreadable_images: int, causes: dict[tuple[str, int], str]) -> dict[str, Any]:
    from quilt.evaluation.causes import count_causes

    def numbers(scores: Any) -> dict[str, Any]:
        return {"precision": scores.precision, "recall": scores.recall, "leakage": scores.leakage,
                "term_acc": scores.term_acc, "dup": scores.dup, "pairs": scores.pairs, "correct": scores.correct,
                "leaked": scores.leaked, "wrong_text": scores.wrong_text, "straddling": scores.straddling,
                "duplicates": scores.duplicates, "expected": scores.expected, "recalled": scores.recalled,
                "terms": scores.terms, "terms_found": scores.terms_found}

    return {**numbers(report.total), "unmatched_pairs": report.unmatched_pairs,
            "unmatched_videos": report.unmatched_videos, "unreadable_images": unreadable_images,
            "miss_causes": count_causes(causes.values()),
            "lectures": [{"file": item.lecture.name, **numbers(item.scores), "missed_segments": item.missed,
                          "miss_causes": {str(i): causes[(item.lecture.name, i)] for i in item.missed}}
                         for item in report.lectures]}


def run(args: argparse.Namespace) -> int:
    from quilt.evaluation.causes import count_causes
    from quilt.evaluation.scoring import evaluate

    try:
        if not args.truth:
            raise EvalInputError("give at least one truth file (--truth GT.json...)")
        lectures = [load_truth(Path(path)) for path in args.truth]
        pairs, unreadable = load_pairs(Path(args.pairs_dir))
    except EvalInputError as err:
        err_console.print(f"quilt eval: {err}", markup=False, highlight=False)
        return 2
    report = evaluate(pairs, lectures)
    causes = miss_causes(report, Path(args.pairs_dir))
    console.print(report_table(report))
    if getattr(args, "verbose", False):
        print_details(report, pairs, causes)
    if report.unmatched_pairs:
        console.print(f"[yellow]{report.unmatched_pairs} pairs belong to no truth file (left out of the scores): "
                      f"videos {', '.join(report.unmatched_videos)}[/]")
    if unreadable:
        console.print(f"[yellow]{unreadable} pair images could not be read; duplicates compared by image id[/]")
    if causes:
        console.print("misses by cause: " + " ".join(f"{k}={v}" for k, v in count_causes(causes.values()).items())
                      + ("" if getattr(args, "verbose", False) else " (--verbose names each)"),
                      markup=False, highlight=False)
    if getattr(args, "json", None):
        try:
            Path(args.json).write_text(json.dumps(report_json(report, unreadable, causes), indent=2) + "\n",
                                       encoding="utf-8")
        except OSError as err:
            err_console.print(f"quilt eval: cannot write {args.json}: {err}", markup=False, highlight=False)
            return 2
    if report.total.pictured or report.total.pictures:
        print(report.total.picture_line(), flush=True)
    print(report.total.line(), flush=True)
    return 0
