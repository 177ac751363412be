"""`quilt bench train`: does continual CLIP training learn? Zero-shot accuracy on held-out generated pairs.

An endless stream of generated tissue pairs (quilt/testing/tissue_pairs.py: K tissue types, each with
its own texture and vocabulary) feeds training/job.py with the chosen config (default: the tiny
CPU model). Zero-shot accuracy on held-out pairs from disjoint seeds is measured before training and
about every 30 s; the curve is printed as a table and drawn to build/bench-train/curve.png.

The last stdout line is machine-readable:

    train: chance=C zero_shot_start=S zero_shot_end=E minutes=M
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from .arg_types import number_above_zero
from .ui import console, err_console, progress_bar

DESCRIPTION = __doc__
HELD_OUT_SEED = 10_000_000  # held-out seeds start here; the training stream counts up from 0
EVAL_EVERY_S = 30.0


_minutes = number_above_zero("minutes")


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--minutes", type=_minutes, default=10.0, help="training time (default 10)")
    parser.add_argument("--config", default="tiny", metavar="NAME|FILE",
                        help="training config: a shipped name or a TOML/JSON file (default tiny)")
    parser.add_argument("--held-out", type=int, default=300, metavar="N",
                        help="held-out generated pairs for evaluation (default 300)")
    parser.add_argument("--out", default="build/bench-train", metavar="DIR",
                        help="folder for curve.png and curve.tsv (default build/bench-train)")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `train` on the `quilt bench` sub-parsers (the object `add_subparsers()` returned)."""
    parser = subparsers.add_parser("train", help="zero-shot accuracy of continual CLIP training over time",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(parser)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench train` to the `quilt bench` sub-parsers, run by `run`."""
    add_parser(sub).set_defaults(handler=run)


class GeneratedPairSource:
    """An endless pair topic of one partition: offset N is the tissue pair of seed N, made when polled."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.next = 0

    def seek(self, offsets: dict[int, int]) -> None:
        self.next = offsets.get(0, 0)

    def poll(self, max_records: int, timeout_s: float) -> list[Any]:
        from quilt.testing.tissue_pairs import tissue_pairs
        from training.sources import SourcedPair

        records = tissue_pairs(self.store, range(self.next, self.next + max_records), prefix="stream")
        out = [SourcedPair(0, self.next + i, r) for i, r in enumerate(records)]
        self.next += len(out)
        return out

    def commit(self, offsets: dict[int, int]) -> None:
        pass  # generated on demand: no broker to tell

    def close(self) -> None:
        pass


def _draw_curve(points: list[tuple[float, float]], chance: float, path: Path) -> None:
    """A small PNG line plot with PIL (no plotting library in the environment)."""
    from PIL import Image, ImageDraw

    width, height, margin = 480, 300, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    t_max = max(p[0] for p in points) or 1.0

    def xy(t: float, acc: float) -> tuple[float, float]:
        return margin + (width - 2 * margin) * t / t_max, height - margin - (height - 2 * margin) * acc

    draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
    draw.line([xy(0, chance), xy(t_max, chance)], fill="grey")
    draw.text((xy(0, chance)[0] + 4, xy(0, chance)[1] - 12), f"chance {chance:.2f}", fill="grey")
    draw.line([xy(t, a) for t, a in points], fill="blue", width=2)
    for t, a in points:
        x, y = xy(t, a)
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill="blue")
    draw.text((margin, 10), "zero-shot accuracy on held-out pairs vs minutes", fill="black")
    draw.text((margin - 20, height - margin - 6), "0", fill="black")
    draw.text((margin - 20, margin - 6), "1", fill="black")
    draw.text((width - margin - 30, height - margin + 8), f"{t_max:.1f} min", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def run(args: argparse.Namespace) -> int:
    from quilt.adapters.store import LocalStore
    from quilt.testing.tissue_pairs import class_names, tissue_pairs
    from training.config import ConfigError, load_config
    from training.job import TrainingJob
    from training.stream import TrainPair

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 2
    if args.held_out < 10:
        err_console.print("[red]error:[/red] --held-out must be at least 10")
        return 2
    classes = class_names()
    chance = 1.0 / len(classes)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch:
        store = LocalStore(Path(scratch) / "bucket")
        job = TrainingJob(config, GeneratedPairSource(store), store)
        held = tissue_pairs(store, range(HELD_OUT_SEED, HELD_OUT_SEED + args.held_out), prefix="held-out")
        examples = job.eval_examples([TrainPair.of(r) for r in held])
        curve: list[dict[str, float]] = []

        def measure(elapsed_s: float) -> None:
            metrics = job.evaluate(examples, classes)
            curve.append({"minutes": elapsed_s / 60, "step": job.step, "pairs": job.counts["trained"],
                          "loss": job.last_loss, **metrics})

        measure(0.0)
        total_s = args.minutes * 60
        start = time.monotonic()
        next_eval = start + EVAL_EVERY_S
        with progress_bar() as progress:
            task = progress.add_task("training", total=int(total_s), step="")

            def on_step(_job: Any, loss: float) -> None:
                nonlocal next_eval
                now = time.monotonic()
                if now >= next_eval:
                    measure(now - start)
                    next_eval = now + EVAL_EVERY_S
                progress.update(task, completed=int(now - start),
                                step=f"step {job.step} loss {loss:.3f} zero-shot {curve[-1]['zero_shot_acc']:.3f}")

            job.run(deadline=start + total_s, on_step=on_step)
            if curve[-1]["step"] != job.step:  # the last periodic measurement may already be the end
                measure(time.monotonic() - start)
            progress.update(task, completed=int(total_s))
    table = Table(title=f"zero-shot accuracy on {len(examples)} held-out pairs ({len(classes)} tissue types)")
    for column in ("minutes", "step", "pairs trained", "loss", "zero-shot", "i->t R@1", "i->t R@5", "t->i R@1",
                   "t->i R@5"):
        table.add_column(column, justify="right")
    for point in curve:
        table.add_row(f"{point['minutes']:.2f}", str(int(point["step"])), str(int(point["pairs"])),
                      f"{point['loss']:.3f}", f"{point['zero_shot_acc']:.3f}",
                      *(f"{point[k]:.3f}" for k in ("image_to_text_r@1", "image_to_text_r@5",
                                                    "text_to_image_r@1", "text_to_image_r@5")))
    console.print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.tsv").write_text("minutes\tstep\tzero_shot_acc\n" + "".join(
        f"{p['minutes']:.3f}\t{int(p['step'])}\t{p['zero_shot_acc']:.4f}\n" for p in curve))
    _draw_curve([(p["minutes"], p["zero_shot_acc"]) for p in curve], chance, out / "curve.png")
    err_console.print(f"curve: {out / 'curve.png'}, {out / 'curve.tsv'}")
    print(f"train: chance={chance:.3f} zero_shot_start={curve[0]['zero_shot_acc']:.3f} "
          f"zero_shot_end={curve[-1]['zero_shot_acc']:.3f} minutes={args.minutes:g}")
    return 0
