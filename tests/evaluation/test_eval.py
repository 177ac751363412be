"""`quilt eval`: each metric on hand-made pairs and truth, the command's errors, the pipeline on held-out lectures."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from quilt.cli import eval_cmd
from quilt.evaluation.scoring import (
    EvalPair,
    Lecture,
    Segment,
    TruthError,
    content_words,
    evaluate,
    lecture_from_dict,
    term_found,
)
from quilt.testing.eval_lectures import SPLIT_SEEDS, TISSUES, lecture_plan, make_eval_lecture

SOURCE = "/videos/liver.mp4"
LIVER = Lecture("liver.mp4", "", 32.0, (
    Segment(0.0, 4.0, "text", False, False, "Welcome back to the channel, please like and subscribe."),
    Segment(4.0, 10.0, "histology", True, True, "The hepatocytes show macrovesicular steatosis around the vein.",
            ("hepatocyte", "macrovesicular steatosis")),
    Segment(10.0, 15.0, "photo", False, True, "Every resection specimen is fixed in formalin overnight.",
            ("resection", "formalin")),
    Segment(15.0, 21.0, "ihc", True, True, "Cytokeratin highlights the bile ductules in this biopsy.",
            ("cytokeratin", "bile ductule")),
    Segment(21.0, 27.0, "histology", True, True, "Back on this slide the portal tract holds a bile duct.",
            ("portal tract", "bile duct"), repeat_of=1),
    Segment(27.0, 32.0, "text", False, False, "Thanks for watching, see you next time."),
), video_path=SOURCE, video_id="v-liver")

HEPATOCYTES = "The hepatocytes show macrovesicular steatosis around the vein."
CYTOKERATIN = "Cytokeratin highlights the bile ductules in this biopsy."
FORMALIN = "Every resection specimen is fixed in formalin overnight."


def _pair(name: str, start: float, end: float, text: str, phash: str = "", video_id: str = "v-liver",
          source: str = SOURCE) -> EvalPair:
    return EvalPair(name, video_id, source, start, end, text, image_id=name, phash=phash or _hash(name))


def _hash(name: str) -> str:
    """A phash of its own per name: two such hashes differ in about 32 of 64 bits, never in 6 or fewer here."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def test_each_pair_is_correct_leaked_straddling_or_wrong() -> None:
    pairs = [
        _pair("a", 4.2, 10.0, "The hepato sites show macro vesicular stethosis around the vein."),  # garbled, right
        _pair("b", 10.0, 15.0, FORMALIN),  # medical words over the photo: leakage
        _pair("c", 9.0, 22.0, HEPATOCYTES),  # across three slides, half on none of them
        _pair("d", 15.5, 21.0, HEPATOCYTES),  # IHC image with another slide's text
    ]
    report = evaluate(pairs, [LIVER])
    assert [v.outcome for v in report.verdicts] == ["correct", "leaked", "straddling", "wrong_text"]
    total = report.total
    assert (total.pairs, total.correct, total.leaked, total.straddling, total.wrong_text) == (4, 1, 1, 1, 1)
    assert total.precision == 0.25 and total.leakage == 0.25
    assert (total.expected, total.recalled) == (3, 1) and report.lectures[0].missed == [3, 4]
    # "hepato sites" and "stethosis" do not spell the terms: term accuracy scores the words themselves.
    assert total.term_acc == 0.0 and report.lectures[0].missing_terms == {1: ["hepatocyte", "macrovesicular steatosis"]}


def test_metrics_move_with_the_pairs() -> None:
    base = [_pair("a", 4.2, 10.0, HEPATOCYTES)]
    first = evaluate(base, [LIVER]).total
    assert (first.precision, first.recall, first.leakage, first.term_acc, first.dup) == (1.0, 1 / 3, 0.0, 1.0, 0.0)
    more = evaluate([*base, _pair("c", 15.0, 21.0, CYTOKERATIN)], [LIVER]).total
    assert more.recall == 2 / 3 and more.precision == 1.0
    assert more.term_acc == 1.0  # "ductules" folds to the term "bile ductule"
    leaky = evaluate([*base, _pair("b", 10.5, 15.0, FORMALIN), _pair("t", 0.0, 4.0, FORMALIN)], [LIVER]).total
    assert leaky.leakage == 2 / 3 and leaky.precision == 1 / 3 and leaky.recall == 1 / 3


def test_text_glued_from_two_slides_is_wrong_but_a_repeat_showing_is_right() -> None:
    glued = _pair("g", 15.0, 21.0, CYTOKERATIN + " " + FORMALIN)
    assert evaluate([glued], [LIVER]).verdicts[0].outcome == "wrong_text"
    # A short aside on top of the slide's own sentence is still this slide's text.
    aside = _pair("s", 15.0, 21.0, CYTOKERATIN + " In formalin.")
    assert evaluate([aside], [LIVER]).verdicts[0].outcome == "correct"
    # Segment 4 shows segment 1's picture again: either narration describes the image.
    report = evaluate([_pair("r", 21.0, 27.0, HEPATOCYTES)], [LIVER])
    assert report.verdicts[0].outcome == "correct"
    assert report.lectures[0].missed == [3, 4]  # the pair credits segment 1, whose words it carries


def test_whisper_split_words_still_point_at_their_slide() -> None:
    # What tiny.en made of segment 3's narration on a generated lecture: words split and misheard.
    heard = _pair("h", 15.0, 21.0, "The mucus to chemistry for cytokeratin high light smoile duct chills.")
    report = evaluate([heard], [LIVER])
    assert report.verdicts[0].outcome == "correct" and report.verdicts[0].text_segment == 3
    assert report.lectures[0].missing_terms == {3: ["bile ductule"]}
    assert content_words("The nuclei of the cells are in the center") == ["nuclei", "cell", "center"]


def test_duplicates_need_the_same_picture_and_the_same_text() -> None:
    near = "ffff0000ffff0003"  # 2 bits from "ffff0000ffff0000"
    pairs = [
        _pair("x1", 4.0, 10.0, HEPATOCYTES, phash="ffff0000ffff0000"),
        _pair("x2", 21.0, 27.0, "Back on this slide the portal tract holds a bile duct.", phash=near),
        _pair("x3", 21.0, 27.0, "the hepatocytes show macrovesicular steatosis around the vein", phash=near),
        _pair("x4", 15.0, 21.0, HEPATOCYTES, phash="00ff00ff00ff00ff"),
    ]
    report = evaluate(pairs, [LIVER])
    assert [v.duplicate for v in report.verdicts] == [False, False, True, False]
    assert report.total.dup == 0.25


def test_pairs_are_matched_by_path_id_or_file_name_and_the_rest_reported() -> None:
    by_name = _pair("n", 4.0, 10.0, HEPATOCYTES, video_id="v-elsewhere", source="/copies/liver.mp4")
    by_id = _pair("i", 15.0, 21.0, CYTOKERATIN, source="/moved/renamed.mp4")
    stranger = _pair("s", 4.0, 10.0, HEPATOCYTES, video_id="v-other", source="/videos/kidney.mp4")
    report = evaluate([by_name, by_id, stranger], [LIVER])
    assert report.total.pairs == 2 and report.unmatched_pairs == 1 and report.unmatched_videos == ["v-other"]
    assert report.verdicts[2].outcome == "unmatched"
    twin = Lecture("liver.mp4", "", 32.0, LIVER.segments, "/other/liver.mp4", "v-twin")
    ambiguous = evaluate([by_name], [LIVER, twin])  # two truths named liver.mp4: the name alone decides nothing
    assert ambiguous.unmatched_pairs == 1
    lonely = evaluate([], [LIVER])  # a lecture without pairs still counts in recall
    assert lonely.total.recall == 0.0 and lonely.total.precision == 1.0


def test_terms_fold_case_plurals_and_digit_spacing() -> None:
    assert term_found("Mallory-Denk body", "several mallory denk bodies are seen")
    assert term_found("TTF-1", "TTF1 stains the nuclei") and term_found("CD34", "cd 34 outlines the sinusoids")
    assert not term_found("hepatocyte", "the hematocytes are swollen")
    assert not term_found("bile duct", "the duct has bile")


def test_truth_is_validated() -> None:
    segment: dict[str, Any] = {"t_start": 0, "t_end": 5, "histology": True, "narration": "x", "terms": ["gland"]}
    good: dict[str, Any] = {"file": "a.mp4", "segments": [segment]}
    lecture = lecture_from_dict(good)
    assert lecture.segments[0].medical and lecture.segments[0].expected  # medical defaults to having terms
    for broken, why in [({**good, "segments": [{"t_start": 0, "t_end": 5}]}, "histology"),
                        ({**good, "segments": [{"t_start": 5, "t_end": 5, "histology": False}]}, "not after"),
                        ({"segments": []}, "file"),
                        ({**good, "segments": [{**segment, "repeat_of": 0}]}, "repeat_of")]:
        with pytest.raises(TruthError, match=why):
            lecture_from_dict(broken)


def test_splits_never_share_seeds_or_narration() -> None:
    assert not set(SPLIT_SEEDS["tuning"]) & set(SPLIT_SEEDS["heldout"])
    for tissue in TISSUES:
        tuning = {line.text for line in (*tissue.tuning.he, *tissue.tuning.ihc, tissue.tuning.outline)}
        heldout = {line.text for line in (*tissue.heldout.he, *tissue.heldout.ihc, tissue.heldout.outline)}
        assert not tuning & heldout, tissue.name
    _, plan = lecture_plan("heldout", SPLIT_SEEDS["heldout"][3])
    pool = {line.text for t in TISSUES for line in (*t.heldout.he, *t.heldout.ihc, t.heldout.outline)}
    assert all(item.line.text in pool for item in plan if item.spec.kind in ("histology", "ihc"))
    with pytest.raises(ValueError, match="not a heldout seed"):
        lecture_plan("heldout", SPLIT_SEEDS["tuning"][0])


def _args(pairs_dir: Path, *truth: Path, json_path: Path | None = None) -> argparse.Namespace:
    return argparse.Namespace(pairs_dir=str(pairs_dir), truth=[str(t) for t in truth],
                              json=str(json_path) if json_path else None, verbose=False)


def test_command_explains_bad_input_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "a.truth.json"
    truth.write_text(json.dumps({"file": "a.mp4", "segments": []}))
    assert eval_cmd.run(_args(tmp_path / "missing", truth)) == 2
    assert "no such folder" in capsys.readouterr().err
    assert eval_cmd.run(_args(tmp_path, truth)) == 2
    assert "no pairs.jsonl" in capsys.readouterr().err
    (tmp_path / "pairs.jsonl").write_text("")
    bad = tmp_path / "bad.truth.json"
    bad.write_text("{not json")
    assert eval_cmd.run(_args(tmp_path, bad)) == 2
    err = capsys.readouterr().err
    assert "cannot read truth" in err and "Traceback" not in err
    (tmp_path / "a.mp4").write_bytes(b"another video")
    truth.write_text(json.dumps({"file": "a.mp4", "sha256": "0" * 64, "segments": []}))
    assert eval_cmd.run(_args(tmp_path, truth)) == 2
    assert "sha256 differs" in capsys.readouterr().err


LINE = re.compile(r"^eval: precision=(?P<precision>[\d.]+) recall=(?P<recall>[\d.]+) leakage=(?P<leakage>[\d.]+) "
                  r"term_acc=(?P<term_acc>[\d.]+) dup=(?P<dup>[\d.]+)$")


def test_pipeline_meets_the_bar_on_heldout_lectures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from quilt.cli.main import main

    made = [make_eval_lecture(tmp_path, "heldout", index) for index in range(2)]
    segments = []
    for video, truth_path in made:
        truth = json.loads(truth_path.read_text())
        assert truth["file"] == video.name and truth["segments"][-1]["t_end"] == truth["duration_s"] <= 46
        segments += truth["segments"]
    # Histology to find, chatter to drop, and medical talk over a picture that is not histology.
    assert any(s["histology"] and s["medical"] for s in segments)
    assert any(not s["histology"] and not s["medical"] for s in segments)
    assert any(not s["histology"] and s["medical"] for s in segments)
    out = tmp_path / "out"
    assert main(["process", *(str(video) for video, _ in made), "--out", str(out)]) == 0
    capsys.readouterr()
    report = tmp_path / "eval.json"
    assert eval_cmd.run(_args(out, *(truth for _, truth in made), json_path=report)) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    match = LINE.match(printed[-1])
    assert match, printed[-1]
    got = {name: float(value) for name, value in match.groupdict().items()}
    numbers = json.loads(report.read_text())
    assert numbers["unmatched_pairs"] == 0 and numbers["pairs"] > 0
    assert got["precision"] == pytest.approx(numbers["precision"], abs=5e-4)
    # Every metric that misses the bar is named at once, so a failure says which stage to look at.
    misses = [name for name, ok in [("precision", got["precision"] >= 0.90), ("recall", got["recall"] >= 0.90),
                                    ("leakage", got["leakage"] <= 0.05), ("dup", got["dup"] <= 0.05)] if not ok]
    assert not misses, f"{', '.join(misses)} off the bar: {printed[-1]}"
    # Every processed lecture left its trace, and every miss (if any) has a cause from it, not "untraced".
    assert len(list((out / "videos").glob("v-*.json"))) == len(made)
    assert "untraced" not in numbers["miss_causes"]
    assert sum(numbers["miss_causes"].values()) == numbers["expected"] - numbers["recalled"]


def test_each_miss_is_given_its_cause_from_the_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from quilt.evaluation.causes import miss_cause
    from quilt.evaluation.video_trace import TracedChunk, TracedSentence, VideoTrace, write_trace

    hepatocytes, cytokeratin, portal = LIVER.segments[1], LIVER.segments[3], LIVER.segments[4]
    kept = [TracedChunk(4.0, 10.0, True, 0.9), TracedChunk(15.2, 21.0, True, 0.8), TracedChunk(21.0, 27.0, True, 0.9)]
    said = [TracedSentence(4.3, 9.5, "The hepato sites show macro vesicular stethosis.", False),
            TracedSentence(15.3, 26.5, "Cytokeratin highlights the bile ductules the portal tract holds.", True)]
    trace = VideoTrace("v-liver", SOURCE, said, kept)
    assert miss_cause(hepatocytes, trace) == "not_medical"  # heard, every term garbled
    assert miss_cause(cytokeratin, trace) == "glued" == miss_cause(portal, trace)  # one sentence over two slides
    assert miss_cause(hepatocytes, VideoTrace("v-liver", SOURCE, said, kept[1:])) == "no_image"
    rejected = [TracedChunk(4.0, 10.0, False, 0.2), *kept[1:]]
    assert miss_cause(hepatocytes, VideoTrace("v-liver", SOURCE, said, rejected)) == "no_image"
    assert miss_cause(hepatocytes, VideoTrace("v-liver", SOURCE, said[1:], kept)) == "not_heard"
    fine = [TracedSentence(4.3, 9.5, HEPATOCYTES, True)]
    assert miss_cause(hepatocytes, VideoTrace("v-liver", SOURCE, fine, kept)) == "paired_elsewhere"
    # Through the command: the trace next to pairs.jsonl gives each miss its cause, in --verbose and in --json.
    (tmp_path / "pairs.jsonl").write_text("")
    truth = tmp_path / "liver.truth.json"
    truth.write_text(json.dumps({"file": "liver.mp4", "duration_s": LIVER.duration_s, "segments": [
        {"t_start": seg.t_start, "t_end": seg.t_end, "kind": seg.kind, "histology": seg.histology,
         "medical": seg.medical, "narration": seg.narration, "terms": list(seg.terms)} for seg in LIVER.segments]}))
    args = _args(tmp_path, truth, json_path=tmp_path / "eval.json")
    args.verbose = True
    lecture = eval_cmd.load_truth(truth)  # the trace is found by the id `quilt process` gives the truth's video
    write_trace(tmp_path, VideoTrace(lecture.video_id, SOURCE, said, kept))
    assert eval_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "missed #1 4.0-10.0s (histology) cause=not_medical" in out
    assert "misses by cause: no_image=0 not_heard=0 not_medical=1 glued=2 paired_elsewhere=0" in out
    assert out.strip().splitlines()[-1].startswith("eval: ")
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["miss_causes"]["glued"] == 2 and report["lectures"][0]["miss_causes"]["1"] == "not_medical"


def test_a_pairs_image_must_show_the_segments_picture_where_the_truth_gives_boxes() -> None:
    from dataclasses import replace

    two = Segment(4.0, 10.0, "histology", True, True, HEPATOCYTES, ("hepatocyte",),
                  picture_boxes=((40, 100, 600, 560), (660, 100, 1220, 560)))
    lecture = replace(LIVER, segments=(LIVER.segments[0], two, *LIVER.segments[2:]), size=(1280, 720))
    left = replace(_pair("left", 4.0, 10.0, HEPATOCYTES), crop=(42, 98, 598, 562))
    right = replace(_pair("right", 4.0, 10.0, HEPATOCYTES), crop=(661, 101, 1219, 559))
    both = replace(_pair("both", 4.0, 10.0, HEPATOCYTES), crop=(40, 100, 1220, 560))
    whole = _pair("whole", 4.0, 10.0, HEPATOCYTES)
    report = evaluate([left, right], [lecture]).total
    assert (report.pictured, report.picture_match, report.pictures, report.pictures_paired) == (2, 2, 2, 2)
    assert report.picture_line() == "eval-pictures: checked=2 image_matches_picture=1.000 pictures=2 " \
                                    "pictures_paired=1.000"
    report = evaluate([both, whole], [lecture]).total
    assert (report.correct, report.pictured, report.picture_match, report.pictures_paired) == (2, 2, 0, 0)
    # Without boxes, or without the frame size, nothing is checked.
    assert evaluate([both], [LIVER]).total.pictured == 0


def test_truth_picture_boxes_are_validated() -> None:
    base = {"file": "x.mp4", "size": [640, 360], "segments": [
        {"t_start": 0, "t_end": 5, "histology": True, "picture_boxes": [[0, 0, 640, 360]]}]}
    assert lecture_from_dict(base).segments[0].picture_boxes == ((0, 0, 640, 360),)
    assert lecture_from_dict(base).size == (640, 360)
    bad = json.loads(json.dumps(base))
    bad["segments"][0]["picture_boxes"] = [[0, 0, "x", 1]]
    with pytest.raises(TruthError, match="picture_boxes"):
        lecture_from_dict(bad)
