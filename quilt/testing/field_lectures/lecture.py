"""Render a planned field lecture and write its truth file."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from quilt.testing.field_lectures.encode import room_sound, write_video
from quilt.testing.field_lectures.narration import AUDIO_RATE
from quilt.testing.field_lectures.plan import SPLIT_SEEDS, Plan, lecture_plan, scene_for


def _frames(plan: Plan) -> Iterator[np.ndarray]:
    start = 0.0
    for page, part in enumerate(plan.parts, start=1):
        count = int(round((start + part.seconds) * plan.fps)) - int(round(start * plan.fps))
        yield from scene_for(part, plan, page).frames(count, plan.fps)
        start += part.seconds


def _soundtrack(plan: Plan) -> np.ndarray:
    track = room_sound(plan.duration_s, plan.voice.seed)
    start = 0.0
    for part in plan.parts:
        at = int(round((start + part.speech_at) * AUDIO_RATE))
        speech = part.speech[: max(track.size - at, 0)]
        track[at:at + speech.size] += speech
        start += part.seconds
    return track


def truth_dict(name: str, video: Path, plan: Plan) -> dict[str, Any]:
    """The truth file: the fields `quilt.testing.eval_lectures` writes, plus each segment's nuisance and boxes."""
    segments: list[dict[str, Any]] = []
    t = 0.0
    for part in plan.parts:
        end = round(t + part.seconds, 3)
        segments.append({
            "t_start": round(t, 3), "t_end": end, "kind": part.kind, "histology": part.histology,
            "still": part.still, "medical": bool(part.said.terms), "narration": part.said.text,
            "terms": list(part.said.terms), "repeat_of": None, "nuisance": part.nuisance,
            "picture_boxes": [list(box) for box in part.boxes]})
        t = end
    return {"file": name, "sha256": hashlib.sha256(video.read_bytes()).hexdigest(), "split": plan.split,
            "seed": plan.seed, "tissue": plan.topic.title, "size": list(plan.size), "fps": plan.fps,
            "duration_s": round(t, 3), "generator": "field", "voice": plan.voice.name, "wpm": plan.voice.wpm,
            "theme": plan.theme.name, "segments": segments}


def make_field_lecture(folder: Path, split: str, index: int, size: tuple[int, int] | None = None,
                       fps: int | None = None) -> tuple[Path, Path]:
    """Write `field-<split>-NN.mp4` and its `.truth.json` into `folder`; returns both paths.

    `size` and `fps` replace the lecture's drawn format (tests use small ones); the plan is otherwise the same.
    """
    seeds = SPLIT_SEEDS[split]
    if not 0 <= index < len(seeds):
        raise ValueError(f"{split} has {len(seeds)} field lectures; index {index} is out of range")
    if size is not None and (size[0] % 2 or size[1] % 2 or min(size) < 64):
        raise ValueError(f"field lectures need even sides of 64 pixels or more (4:2:0 video), not {size}")
    plan = lecture_plan(split, seeds[index], size, fps)
    stem = f"field-{split}-{index:02d}"
    video, truth_path = folder / f"{stem}.mp4", folder / f"{stem}.truth.json"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{stem}.part.mp4"
    frames = _frames(plan)  # renders lazily; fills each part's boxes as its scene is built
    write_video(partial, frames, plan.size, plan.fps, _soundtrack(plan))
    os.replace(partial, video)  # a half-written lecture never sits next to a truth file
    truth_path.write_text(json.dumps(truth_dict(video.name, video, plan), indent=1) + "\n", encoding="utf-8")
    return video, truth_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quilt.testing.field_lectures",
        description="Write field lectures (a generator independent of the tuning one) with truth files for "
                    "`quilt eval`.")
    parser.add_argument("--out", type=Path, required=True, help="folder for field-<split>-NN.mp4 and .truth.json")
    parser.add_argument("--split", choices=sorted(SPLIT_SEEDS), required=True,
                        help="tuning: for adjusting the pipeline; heldout: only ever scored")
    parser.add_argument("--count", type=int, default=4, help="how many lectures (default 4)")
    parser.add_argument("--first", type=int, default=0, help="index of the first lecture (default 0)")
    args = parser.parse_args(argv)
    for index in range(args.first, args.first + args.count):
        video, truth_path = make_field_lecture(args.out, args.split, index)
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        kinds = ",".join(s["nuisance"] for s in truth["segments"] if s["histology"])
        print(f"{video} {truth['duration_s']:.1f}s {truth['size'][0]}x{truth['size'][1]}@{truth['fps']} "
              f"{truth['voice']}@{truth['wpm']} {len(truth['segments'])} segments ({kinds})", flush=True)
    return 0
