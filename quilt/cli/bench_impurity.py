"""`quilt bench impurity`: impurity tags and field-of-view crops on generated frames with known truth."""

from __future__ import annotations

import argparse
from collections import Counter

from rich.table import Table

from .ui import console, progress_bar

DESCRIPTION = ("Generate clean H&E and IHC frames, slide-viewer windows, text overlays, caption bands, arrows, 2x1 "
               "and 2x2 figures and presenter frames (quilt/testing/impure.py), tag and crop each, print precision "
               "and recall per tag, then one line `impurity: min_precision=P min_recall=R crop_iou_min=I "
               "crop_iou_mean=M frames=N crops=C`.")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench impurity` to the `quilt bench` sub-parsers."""
    parser = sub.add_parser(
        "impurity", help="impurity tags and field-of-view crops on generated frames with known truth",
        description=DESCRIPTION)
    parser.add_argument("--seeds", type=int, default=10, metavar="N",
                        help="seeds per frame kind (10 kinds each; default 10 = 100 frames)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from quilt.core.boxes import box_iou
    from quilt.stages.histo.impurity import inspect
    from quilt.testing.impure import all_frames  # the generator lives with the test media

    frames = all_frames(args.seeds)
    hits, false_alarms, misses = Counter[str](), Counter[str](), Counter[str]()
    ious: list[float] = []
    with progress_bar() as progress:
        task = progress.add_task("impurity", total=len(frames), step="")
        for kind, (image, truth_tags, truth_box) in frames:
            progress.update(task, step=kind)
            crop, tags = inspect(image)
            got = set(tags)
            for tag in got | truth_tags:
                counter = hits if tag in got and tag in truth_tags else false_alarms if tag in got else misses
                counter[tag] += 1
            if truth_box is not None:  # a missed crop counts as IoU 0
                ious.append(box_iou(crop, truth_box) if crop is not None else 0.0)
            progress.advance(task)
    table = Table(title=f"impurity tags on {len(frames)} generated frames")
    for column in ("tag", "precision", "recall", "true", "false alarms", "missed"):
        table.add_column(column)
    worst_p = worst_r = 1.0
    for tag in sorted(set(hits) | set(false_alarms) | set(misses)):
        said, real = hits[tag] + false_alarms[tag], hits[tag] + misses[tag]
        precision = hits[tag] / said if said else 0.0
        recall = hits[tag] / real if real else 0.0
        worst_p, worst_r = min(worst_p, precision), min(worst_r, recall)
        table.add_row(tag, f"{precision:.3f}", f"{recall:.3f}", str(hits[tag]), str(false_alarms[tag]),
                      str(misses[tag]))
    console.print(table)
    min_iou = min(ious) if ious else 0.0
    mean_iou = sum(ious) / len(ious) if ious else 0.0
    print(f"impurity: min_precision={worst_p:.3f} min_recall={worst_r:.3f} crop_iou_min={min_iou:.3f} "
          f"crop_iou_mean={mean_iou:.3f} frames={len(frames)} crops={len(ious)}", flush=True)
    return 0
