"""Varied generated lectures with ground truth, for scoring the key-frame extraction.

    python -m quilt.testing.eval_suite --out DIR [--count N] [--seed S]   # prints the scores
"""

from __future__ import annotations

import argparse
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
