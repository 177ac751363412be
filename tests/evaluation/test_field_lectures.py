"""The field lectures: splits kept apart, truth that matches the rendered video, read by `quilt eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from quilt.cli.eval_cmd import load_truth
from quilt.evaluation.scoring import EvalPair, evaluate
from quilt.testing import eval_lectures
from quilt.testing.field_lectures import HISTOLOGY_NUISANCES, SPLIT_SEEDS, lecture_plan, make_field_lecture
from quilt.testing.field_lectures.narration import ASIDES, CLOSINGS, OPENINGS, TOPICS, split_lines

SIZE, FPS = (320, 180), 10
INDEX = 4  # a tuning lecture with a shaking view, a webcam, two panels, a drift and the presenter


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    video, truth_path = make_field_lecture(tmp_path_factory.mktemp("field"), "tuning", INDEX, SIZE, FPS)
    return video, truth_path, json.loads(truth_path.read_text(encoding="utf-8"))


def _busy_share(image: np.ndarray) -> float:
    """Share of 8x8 tiles with texture (grey std > 3): most of a micrograph, little of a slide's flat colour."""
    grey = image.astype(np.float64).mean(axis=2)
    h, w = grey.shape[0] // 8 * 8, grey.shape[1] // 8 * 8
    tiles = grey[:h, :w].reshape(h // 8, 8, w // 8, 8).std(axis=(1, 3))
    return float((tiles > 3).mean())


def _frames(video: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(video)) as container:
        return [(float(f.time or 0.0), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def _at(frames: list[tuple[float, np.ndarray]], t: float) -> np.ndarray:
    return min(frames, key=lambda f: abs(f[0] - t))[1]


def test_splits_use_disjoint_seeds_also_apart_from_the_tuning_generator() -> None:
    field_tuning, field_heldout = set(SPLIT_SEEDS["tuning"]), set(SPLIT_SEEDS["heldout"])
    assert not field_tuning & field_heldout
    for seeds in eval_lectures.SPLIT_SEEDS.values():
        assert not (field_tuning | field_heldout) & set(seeds)
    with pytest.raises(ValueError, match="not a heldout seed"):
        lecture_plan("heldout", SPLIT_SEEDS["tuning"][0])


def test_splits_never_share_a_sentence() -> None:
    pools = [OPENINGS, CLOSINGS, ASIDES] + [t.he for t in TOPICS] + [t.ihc for t in TOPICS]
    for lines in pools:
        assert not {s.text for s in split_lines(lines, "tuning")} & {s.text for s in split_lines(lines, "heldout")}
    tuning_generator = {line.text for tissue in eval_lectures.TISSUES for split in ("tuning", "heldout")
                        for line in (*tissue.pool(split).he, *tissue.pool(split).ihc)}
    assert not tuning_generator & {s.text for lines in pools for s in lines}


def test_every_nuisance_kind_is_drawn_and_terms_are_said() -> None:
    seen: set[str] = set()
    for seed in SPLIT_SEEDS["heldout"][:4]:
        for part in lecture_plan("heldout", seed, SIZE, FPS).parts:
            if part.histology:
                seen.add(part.nuisance)
                assert all(term.split()[0].lower() in part.said.text.lower() for term in part.said.terms)
    assert seen == set(HISTOLOGY_NUISANCES)


def test_truth_says_where_the_tissue_is(lecture: tuple[Path, Path, dict[str, Any]]) -> None:
    video, _, truth = lecture
    frames = _frames(video)
    assert truth["size"] == list(SIZE) and truth["fps"] == FPS
    assert frames[-1][0] == pytest.approx(truth["duration_s"], abs=0.2)
    kinds = {s["nuisance"] for s in truth["segments"]}
    assert {"shake", "webcam", "two_panel", "zoom_pan", "presenter"} <= kinds
    for seg in truth["segments"]:
        image = _at(frames, (seg["t_start"] + seg["t_end"]) / 2)
        if seg["histology"]:
            assert seg["picture_boxes"], seg
            for x0, y0, x1, y1 in seg["picture_boxes"]:
                assert _busy_share(image[y0:y1, x0:x1]) >= 0.6, seg["nuisance"]
            if seg["nuisance"] == "two_panel":  # the slide around the panels is flat
                outside = image.copy()
                for x0, y0, x1, y1 in seg["picture_boxes"]:
                    outside[y0:y1, x0:x1] = outside[0, 0]
                assert _busy_share(outside) < 0.3
        elif seg["kind"] in ("text", "chart"):
            assert not seg["picture_boxes"] and _busy_share(image) < 0.35, seg["nuisance"]


def test_the_shaking_view_moves_and_a_slide_does_not(lecture: tuple[Path, Path, dict[str, Any]]) -> None:
    from skimage.registration import phase_cross_correlation

    video, _, truth = lecture
    frames = _frames(video)
    by_kind = {s["nuisance"]: s for s in truth["segments"]}
    shifts = []
    shake = by_kind["shake"]
    for t in np.arange(shake["t_start"] + 0.5, shake["t_end"] - 0.5, 0.5):
        shift, _, _ = phase_cross_correlation(_at(frames, t).mean(axis=2), _at(frames, t + 0.3).mean(axis=2))
        shifts.append(float(np.abs(shift).max()))
    assert max(shifts) >= 1.0 and max(shifts) <= 12  # a few pixels, never a new field
    panels = by_kind["two_panel"]
    a, b = _at(frames, panels["t_start"] + 0.8), _at(frames, panels["t_end"] - 0.5)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


def test_narration_lies_inside_its_segment(lecture: tuple[Path, Path, dict[str, Any]]) -> None:
    video, _, truth = lecture
    with av.open(str(video)) as container:
        stream = container.streams.audio[0]
        assert stream.rate == 44_100 and stream.channels == 2
        audio = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    rate = 44_100
    for seg in truth["segments"]:
        if not seg["narration"]:
            continue
        start, end = int(seg["t_start"] * rate), int(seg["t_end"] * rate)
        lead = audio[start + rate // 20:start + int(0.3 * rate)]  # before the narrator starts (>= 0.4 s in)
        tail = audio[end - int(0.4 * rate):end - rate // 20]  # after the narration ends (>= 0.6 s of tail)
        body = audio[start:end]
        quiet = max(float(np.sqrt(np.mean(lead**2))), float(np.sqrt(np.mean(tail**2))))
        assert float(np.sqrt(np.mean(body**2))) > 3 * quiet, seg["narration"]


def test_quilt_eval_reads_the_truth_and_ignores_the_extra_keys(lecture: tuple[Path, Path, dict[str, Any]]) -> None:
    video, truth_path, truth = lecture
    scored = load_truth(truth_path)  # what `quilt eval --truth` does, sha256 check included
    assert scored.video_path == str(video.resolve()) and len(scored.segments) == len(truth["segments"])
    expected = [i for i, s in enumerate(truth["segments"]) if s["histology"] and s["terms"]]
    assert [i for i, s in enumerate(scored.segments) if s.expected] == expected
    pairs = [EvalPair(f"p{i}", scored.video_id, scored.video_path, s["t_start"] + 0.5, s["t_end"] - 0.2,
                      s["narration"], image_id=f"img{i}", phash=f"{i:016x}")
             for i, s in enumerate(truth["segments"]) if i in expected]
    chart = next(s for s in truth["segments"] if s["kind"] in ("chart", "presenter", "text") and s["narration"])
    pairs.append(EvalPair("leak", scored.video_id, scored.video_path, chart["t_start"], chart["t_end"],
                          chart["narration"], image_id="leak", phash="ffffffffffffffff"))
    report = evaluate(pairs, [scored])
    assert report.total.recall == 1.0 and report.total.leaked == 1
    assert report.total.precision == pytest.approx(len(expected) / (len(expected) + 1))
