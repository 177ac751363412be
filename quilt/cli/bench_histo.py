"""`quilt bench histo`: the histology classifier and the magnification estimate on held-out frames.

The frames come from quilt/testing/tissue_set.py's held-out split, which no model fitting or
calibration ever sees: generated tissue, crops of skimage's IHC image from rows the training
never crops, and real non-histology images the training never uses. Ends with one line:
`histo: accuracy=A auc=U brier=B ece=E magnification_acc=M ms_per_frame=T`.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict

import numpy as np
from rich.table import Table

from .ui import console, err_console, progress_bar

DEFAULT_COUNT = 60  # frames per class, and magnification frames
DESCRIPTION = ("Score the held-out split of quilt/testing/tissue_set.py (generated H&E, IHC and special-stain tissue; "
               "real skimage images never trained on; slides, charts, screens, the presenter) with a histology "
               "model, estimate magnification on held-out tissue of known nucleus size, print per-kind tables and "
               "one line `histo: accuracy=A auc=U brier=B ece=E magnification_acc=M ms_per_frame=T`.")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench histo` to the `quilt bench` sub-parsers."""
    parser = sub.add_parser("histo", help="histology classifier and magnification accuracy on held-out frames",
                            description=DESCRIPTION)
    parser.add_argument("--model", default="embedded", metavar="SPEC",
                        help="'embedded' (default), a JSON model from scripts/train_histo.py, "
                             "or package.module:factory returning a HistoScorer")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, metavar="N",
                        help="held-out frames per class, and magnification frames (default 60; "
                             "160 = the held-out set in the model file)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # The scorers load scipy and scikit-image: imported here so building the parser stays quick.
    from quilt.stages.histo.magnification import magnification_class
    from quilt.stages.histo.model import HistoModelError, binary_metrics
    from quilt.stages.histo.scorers import load_scorer
    from quilt.testing.tissue_set import labelled_set, magnification_set  # the generators live with the test media

    spec = getattr(args, "model", None) or "embedded"
    count = int(getattr(args, "count", None) or DEFAULT_COUNT)
    try:
        scorer = load_scorer(spec)
    except HistoModelError as exc:
        err_console.print(f"quilt bench histo: {exc}")
        return 2
    threshold = float(getattr(scorer, "threshold", 0.5))

    labels, scores, kinds, seconds = [], [], [], 0.0
    magnification: Counter[tuple[str, str]] = Counter()
    with progress_bar() as progress:
        task = progress.add_task("classify", total=2 * count, step=scorer.name)
        for item in labelled_set("heldout", count):
            start = time.perf_counter()
            [score] = scorer.score([item.image])
            seconds += time.perf_counter() - start
            labels.append(item.label)
            scores.append(score)
            kinds.append(item.kind)
            progress.advance(task)
        progress.update(task, description="magnification", total=count, completed=0, step="")
        for frame, truth, _ in magnification_set("heldout", count):
            magnification[(truth, magnification_class(frame))] += 1
            progress.advance(task)

    y, p = np.array(labels), np.array(scores)
    metrics = binary_metrics(y, p, threshold)
    console.print(_kind_table(y, p, kinds, threshold, scorer.name))
    console.print(_magnification_table(magnification))
    mag_acc = sum(n for (truth, got), n in magnification.items() if truth == got) / max(count, 1)
    ms = 1000.0 * seconds / max(len(scores), 1)
    print(f"histo: accuracy={metrics['accuracy']:.4f} auc={metrics['auc']:.4f} brier={metrics['brier']:.4f} "
          f"ece={metrics['ece']:.4f} magnification_acc={mag_acc:.4f} ms_per_frame={ms:.2f}", flush=True)
    return 0


def _kind_table(y: np.ndarray, p: np.ndarray, kinds: list[str], threshold: float, name: str) -> Table:
    table = Table(title=f"{name} on held-out frames (threshold {threshold:g})")
    for column in ("kind", "label", "frames", "accuracy", "mean score"):
        table.add_column(column)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, kind in enumerate(kinds):
        groups[(kind, int(y[i]))].append(i)
    for (kind, label), rows in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        correct = (p[rows] >= threshold) == (y[rows] == 1)
        table.add_row(kind, "histology" if label else "other", str(len(rows)), f"{correct.mean():.3f}",
                      f"{p[rows].mean():.3f}")
    return table


def _magnification_table(results: Counter[tuple[str, str]]) -> Table:
    classes = ("low", "medium", "high", "unknown")
    table = Table(title="magnification on held-out tissue (rows: truth, columns: estimate)")
    table.add_column("truth")
    for name in classes:
        table.add_column(name)
    for truth in classes[:3]:
        table.add_row(truth, *(str(results[(truth, got)]) for got in classes))
    return table
