"""Varied generated lectures with ground truth, for scoring the key-frame extraction.

    python -m quilt.testing.eval_suite --out DIR [--count N] [--seed S]   # prints the scores

Two generators feed `quilt bench keyframes`: this module's own scripts (`make_eval_lectures`,
the tuning generator's slides) and the field lectures (`quilt.testing.field_lectures`, built to
differ). `make_suite` gives either with each histology segment labelled by its nuisance kind.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quilt.testing.lecture import SlideSpec, make_lecture

Segments = list[tuple[float, float, str, bool, int | None]]

_TEXT_TITLES = ["Liver pathology", "Renal biopsy", "Lymph node", "Skin tumours", "Summary", "Outline"]


def _still(rng: np.random.Generator, serial: int) -> SlideSpec:
    kind = str(rng.choice(["histology", "ihc", "histology", "text", "photo"]))
    seconds = float(rng.uniform(4.0, 8.0))
    pointer, annotation = bool(rng.random() < 0.35), bool(rng.random() < 0.3)
    if kind == "text":
        title = _TEXT_TITLES[serial % len(_TEXT_TITLES)]
        lines = tuple(f"Point {serial}.{i}" for i in range(int(rng.integers(1, 4))))
        return SlideSpec("text", seconds, "", seed=serial, title=title, lines=lines, pointer=pointer,
                         annotation=annotation)
    return SlideSpec(kind, seconds, "", seed=serial * 31 + 7, pointer=pointer, annotation=annotation)


def _motion(rng: np.random.Generator, serial: int) -> SlideSpec:
    choice = str(rng.choice(["pan", "zoom", "presenter"]))
    seconds = float(rng.uniform(5.0, 9.0))
    if choice == "presenter":
        return SlideSpec("presenter", seconds, "", seed=serial)
    kind = str(rng.choice(["histology", "ihc"]))
    rate = float(rng.uniform(8.0, 30.0)) if choice == "pan" else float(rng.uniform(2.0, 5.0))
    return SlideSpec(kind, seconds, "", seed=serial * 17 + 3, motion=choice, motion_rate=rate)


def eval_script(seed: int, segments: int = 12) -> list[SlideSpec]:
    """A mix of stills (some with pointer/annotation), pans, zooms, presenter shots, fades and repeats."""
    rng = np.random.default_rng(seed)
    script: list[SlideSpec] = []
    stills: list[SlideSpec] = []
    for serial in range(segments):
        roll = rng.random()
        if roll < 0.3 and serial > 0:
            spec = _motion(rng, seed * 100 + serial)
        elif roll < 0.42 and len(stills) >= 2:
            # Show an earlier slide again, never the one just before (that would be one showing).
            options = [s for s in stills if s.identity() != script[-1].identity()]
            original = options[int(rng.integers(0, len(options)))]
            spec = SlideSpec(original.kind, float(rng.uniform(4.0, 7.0)), "", seed=original.seed,
                             title=original.title, lines=original.lines, annotation=original.annotation)
        else:
            spec = _still(rng, seed * 100 + serial)
            if script and script[-1].identity() == spec.identity():
                spec = _still(rng, seed * 100 + serial + 50)  # e.g. photo after photo: one showing
            stills.append(spec)
        if script and rng.random() < 0.3:
            spec.fade_in_s = float(rng.uniform(1.0, 2.0))
            spec.seconds += spec.fade_in_s  # keep the still part long enough after the dissolve
        script.append(spec)
    return script


def make_eval_lectures(folder: Path, count: int, seed: int) -> list[tuple[Path, Segments]]:
    """Write `count` lectures (320x240, 10 fps, no audio) into `folder`; returns (path, truth segments)."""
    folder.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, Segments]] = []
    for i in range(count):
        path = folder / f"eval-{seed}-{i:02d}.mp4"
        truth = make_lecture(path, eval_script(seed * 1000 + i), with_audio=False)
        out.append((path, truth.eval_segments()))
    return out


@dataclass
class SuiteLecture:
    """A generated lecture with its key-frame truth and, per truth segment, its nuisance kind."""

    path: Path
    segments: Segments  # for quilt.evaluation.keyframes.evaluate
    labelled: list[tuple[float, float, str | None]]  # for histology_coverage: None where not histology


def nuisance_labels(script: list[SlideSpec]) -> list[str | None]:
    """Per truth segment of `make_lecture(script)`: what a histology still is shown with, else None.

    Kinds: "annotation" (an arrow or circle drawn in), "pointer" (a moving mouse pointer),
    "fade_in" (a cross-fade into it) and "plain". Pans and zooms here are fast moves that should
    give no key frame, so they are not histology segments to cover.
    """
    labels: list[str | None] = []
    for spec in script:
        if spec.fade_in_s > 0 and labels:  # lecture.truth_segments splits the dissolve off, except first
            labels.append(None)
        if spec.kind in ("histology", "ihc") and spec.is_still:
            labels.append("annotation" if spec.annotation else "pointer" if spec.pointer
                          else "fade_in" if spec.fade_in_s > 0 else "plain")
        else:
            labels.append(None)
    return labels


def _tuning_suite(folder: Path, count: int, seed: int) -> list[SuiteLecture]:
    folder.mkdir(parents=True, exist_ok=True)
    out: list[SuiteLecture] = []
    for i in range(count):
        path = folder / f"eval-{seed}-{i:02d}.mp4"
        script = eval_script(seed * 1000 + i)
        segments = make_lecture(path, script, with_audio=False).eval_segments()
        labels = nuisance_labels(script)
        out.append(SuiteLecture(path, segments, [(s[0], s[1], label) for s, label in zip(segments, labels,
                                                                                          strict=True)]))
    return out


def _field_suite(folder: Path, count: int, first: int, split: str, size: tuple[int, int] | None,
                 fps: int | None) -> list[SuiteLecture]:
    from quilt.testing.field_lectures import make_field_lecture

    out: list[SuiteLecture] = []
    for index in range(first, first + count):
        path, truth_path = make_field_lecture(folder, split, index, size, fps)
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        segments: Segments = [(s["t_start"], s["t_end"], s["kind"], s["still"], s["repeat_of"])
                              for s in truth["segments"]]
        labelled = [(s["t_start"], s["t_end"], s["nuisance"] if s["histology"] else None) for s in truth["segments"]]
        out.append(SuiteLecture(path, segments, labelled))
    return out


def make_suite(generator: str, folder: Path, count: int, seed: int = 0, field_split: str = "tuning",
               field_size: tuple[int, int] | None = None, field_fps: int | None = None) -> list[SuiteLecture]:
    """`count` lectures of one generator: "tuning" (this module's scripts from `seed`, 320x240 at 10 fps, no
    audio) or "field" (field lectures of `field_split` from index `seed`, in their drawn format, mostly 720p
    at 30 fps, unless `field_size`/`field_fps` replace it)."""
    if generator == "tuning":
        return _tuning_suite(folder, count, seed)
    if generator == "field":
        return _field_suite(folder, count, seed, field_split, field_size, field_fps)
    raise ValueError(f"unknown generator {generator!r}")


def main(argv: list[str] | None = None) -> int:
    from quilt.evaluation.keyframes import evaluate
    from quilt.stages.decode.keyframes import decode_frames

    parser = argparse.ArgumentParser(description="Generate evaluation lectures and score the decoder on them.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path, segments in make_eval_lectures(args.out, args.count, args.seed):
        scores = evaluate(decode_frames(path).chunks, segments)
        print(f"{path.name}: one-keyframe {scores.one_keyframe}/{scores.still_segments} "
              f"duplicates {scores.duplicates}/{scores.keyframes} in-motion {scores.in_motion} "
              f"unmatched {scores.unmatched} missed {scores.missed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
