"""`quilt process`: the stage code in one process writes pairs.jsonl and the images it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quilt import pipeline as process
from quilt.adapters.writers import read_pairs_jsonl
from quilt.cli.main import main
from quilt.core.records import PAIR_FIELDS
from quilt.core.types import ScoredChunk
from quilt.pipeline import Processor
from quilt.stages.align import AlignParams
from quilt.stages.align.pairing import Alignment
from quilt.testing.lecture import SlideSpec, make_corrupt, make_lecture

LECTURE = [
    SlideSpec("text", 5.0, "Welcome back to the channel, please like and subscribe.", title="Liver"),
    SlideSpec("histology", 8.0, "The lymphocytes surround the glandular epithelium of the liver.", seed=3),
    SlideSpec("photo", 5.0, "Thanks for watching, see you next time."),
]


def test_process_writes_pairs_and_images(tmp_path: Path) -> None:
    video = tmp_path / "lecture.mp4"
    make_lecture(video, LECTURE)
    out = tmp_path / "out"
    assert main(["process", str(video), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert lines, "no pairs written"
    for pair in lines:
        assert list(pair) == list(PAIR_FIELDS)
        assert (out / pair["image"]).is_file() and pair["image"].startswith("images/")
        assert 5.0 - 0.6 <= pair["t_start"] and pair["t_end"] <= 13.0 + 0.6  # only the histology slide
        assert "subscribe" not in pair["text"].lower()
    assert "lymphocytes" in " ".join(p["text"].lower() for p in lines)
    for pair in lines:  # Quilt's metadata, filled from the sentences, the chunk and the image
        assert pair["image_id"].startswith(pair["video_id"]) and 0.0 < pair["align_score"] <= 1.0
        assert pair["magnification"] in ("low", "medium", "high") and pair["crop"] == []
        assert {"text": "lymphocytes", "category": "cell"} in pair["entities"]
        assert pair["sub_pathology"] == ["hepatobiliary"]
        assert pair["models"]["aligner"] == "lag-aligner-v2"
    # Rerunning into the same folder is idempotent: the same pair ids, no duplicated lines.
    assert main(["process", str(video), "--out", str(out)]) == 0
    again = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert [p["pair_id"] for p in again] == [p["pair_id"] for p in lines]


def test_process_reports_bad_input_and_keeps_going(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    make_lecture(good, [SlideSpec("histology", 8.0, "Here the stain highlights the glandular epithelium, "
                                  "with lymphocytes in the stroma.", seed=3)])
    broken = tmp_path / "broken.mp4"
    make_corrupt(broken)
    out = tmp_path / "out"
    assert main(["process", str(broken), str(good), "--out", str(out)]) == 1  # failure is reported...
    assert (out / "pairs.jsonl").read_text().strip()  # ...and the good video still produced pairs


def test_reuploaded_lecture_does_not_double_the_pairs(tmp_path: Path) -> None:
    first, copy = tmp_path / "first.mp4", tmp_path / "reupload.mp4"
    make_lecture(first, LECTURE)
    make_lecture(copy, LECTURE, preset="medium")  # the same lecture, encoded again with other settings
    out = tmp_path / "out"
    assert main(["process", str(first), "--out", str(out)]) == 0
    before = (out / "pairs.jsonl").read_text().splitlines()
    assert before
    assert main(["process", str(copy), "--out", str(out)]) == 0
    assert (out / "pairs.jsonl").read_text().splitlines() == before


def test_commands_explain_an_unreachable_stack(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from quilt.stack.ports import free_port

    monkeypatch.setenv("QUILT_S3_PORT", str(free_port()))  # nothing listens there
    assert main(["status"]) == 3
    assert "cannot reach the S3 store" in capsys.readouterr().err


def test_long_speech_over_one_slide_gives_several_texts_of_one_image(tmp_path: Path) -> None:
    video = tmp_path / "lecture.mp4"
    make_lecture(video, [SlideSpec("histology", 7.0, "The lymphocytes surround the glandular epithelium. "
                                   "The liver shows steatosis.", seed=5)])
    processor = Processor(tmp_path / "out", align=AlignParams(max_words=6))
    try:
        outcome = processor.run(str(video))
    finally:
        processor.close()
    assert not outcome.error and outcome.pairs == 2
    pairs = read_pairs_jsonl(tmp_path / "out" / "pairs.jsonl")
    assert len(pairs) == 2 and len({p.pair_id for p in pairs}) == 2
    assert pairs[0].image_id == pairs[1].image_id and pairs[0].image == pairs[1].image  # one file, two texts
    assert [p.name for p in (tmp_path / "out" / "images").iterdir()] == [pairs[0].image_id + ".jpg"]
    assert "lymphocytes" in pairs[0].text.lower() and "liver" in pairs[1].text.lower()


def test_a_slide_shared_with_an_earlier_lecture_does_not_leak_its_speech(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The same holiday photo closes the first lecture and interrupts the second, where the narrator says something
    # medical over it. There it is a cross-video repeat: rejected by the filter, not stored again, but on screen all
    # the same, so what was said over it must not land on the histology slide before it through the padding.
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    make_lecture(first, [SlideSpec("histology", 6.0, "A portal tract with a bile duct.", seed=7),
                         SlideSpec("photo", 5.0, "I took this picture on my holiday.")])
    make_lecture(second, [
        SlideSpec("histology", 7.0, "The lymphocytes surround the glandular epithelium of the liver.", seed=3),
        SlideSpec("photo", 6.0, "Every resection specimen is fixed in formalin overnight."),
        SlideSpec("histology", 6.0, "Here the stain highlights the glandular epithelium.", seed=5)])
    given: list[list[ScoredChunk]] = []  # what the aligner was handed, per video
    real_align = process.align_video

    def spy(video_id: str, source: str, chunks: list[ScoredChunk], *rest: Any) -> Alignment:
        given.append(list(chunks))
        return real_align(video_id, source, chunks, *rest)

    monkeypatch.setattr(process, "align_video", spy)
    processor = Processor(tmp_path / "out")
    try:
        earlier = processor.run(str(first))
        outcome = processor.run(str(second))
    finally:
        processor.close()
    assert not earlier.error and not outcome.error and outcome.repeated_images == 1
    # The aside was heard as medical and dropped with its picture (the test needs Whisper to get it about right).
    assert outcome.unpaired >= 1
    [repeat] = [c for c in given[1] if c.duplicate_of]  # the photo, scored and rejected: a competitor only
    assert not repeat.keep and repeat.image_ref == repeat.duplicate_of and abs(repeat.t_start - 7.0) <= 0.6
    assert repeat.duplicate_of.startswith(earlier.video_id)
    pairs = [p for p in read_pairs_jsonl(tmp_path / "out" / "pairs.jsonl") if p.video_id == outcome.video_id]
    assert [round(p.t_start) for p in pairs] == [0, 13]  # both histology slides, each with its own words
    assert not any(word in p.text.lower() for p in pairs for word in ("resection", "specimen", "formalin"))
    assert repeat.chunk_id + ".jpg" not in {p.name for p in (tmp_path / "out" / "images").iterdir()}


def test_a_slide_another_lecture_showed_first_gets_new_words_under_its_image_and_a_reupload_adds_none(
        tmp_path: Path) -> None:
    # Two lecturers use the same stock micrograph (seed 7) and say different things about it; then the second
    # lecture is uploaded again (other bytes, other video id, the same words).
    first, second, copy = tmp_path / "first.mp4", tmp_path / "second.mp4", tmp_path / "copy.mp4"
    make_lecture(first, [SlideSpec("histology", 6.0, "A portal tract with a bile duct sits in the center.", seed=7),
                         SlideSpec("text", 4.0, "Thanks for watching.", title="Bye")])
    other = [SlideSpec("histology", 6.0, "The lymphocytes surround the glandular epithelium.", seed=3),
             SlideSpec("histology", 6.0, "Here the hepatocytes show steatosis with fat droplets.", seed=7),
             SlideSpec("text", 4.0, "See you next week.", title="Bye")]
    make_lecture(second, other)
    make_lecture(copy, other, preset="medium")
    processor = Processor(tmp_path / "out")
    try:
        outcomes = [processor.run(str(video)) for video in (first, second, copy)]
    finally:
        processor.close()
    assert not any(o.error for o in outcomes) and outcomes[1].repeated_images >= 1
    records = read_pairs_jsonl(tmp_path / "out" / "pairs.jsonl")
    by_video = {o.video_id: [r for r in records if r.video_id == o.video_id] for o in outcomes}
    [stock] = by_video[outcomes[0].video_id]
    assert "portal" in stock.text.lower()
    shared = [r for r in by_video[outcomes[1].video_id] if r.image_id == stock.image_id]
    assert len(shared) == 1 and "steatosis" in shared[0].text.lower() and shared[0].t_start >= 5.4
    assert shared[0].image == stock.image  # one file for the picture, written by the first lecture
    assert len(list((tmp_path / "out" / "images").glob("*.jpg"))) == len({r.image_id for r in records})
    # The re-upload repeats every picture and every sentence: nothing new, all counted as duplicates.
    assert by_video[outcomes[2].video_id] == [] and outcomes[2].duplicates == len(by_video[outcomes[1].video_id])


@pytest.mark.parametrize("ocr_command", ["sleep-then-fail", "missing"])
def test_a_failing_or_hung_ocr_never_stops_a_video(tmp_path: Path, ocr_command: str) -> None:
    import stat

    from quilt.stages.decode import OcrParams

    video = tmp_path / "lecture.mp4"
    make_lecture(video, LECTURE)
    command = str(tmp_path / "no-such-tesseract")
    if ocr_command == "sleep-then-fail":  # hangs past its timeout on one call, crashes on the next
        script = tmp_path / "bad-ocr"
        script.write_text(f"#!/bin/sh\nif [ -e {tmp_path}/once ]; then exit 9; fi\ntouch {tmp_path}/once\nsleep 30\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        command = str(script)
    processor = Processor(tmp_path / "out", ocr=OcrParams(command=command, timeout_s=0.5))
    outcome = processor.run(str(video))
    processor.close()
    assert outcome.error == "" and outcome.pairs >= 1
    assert outcome.ocr_failures == outcome.chunks + outcome.repeated_images >= 2
    [record, *_] = read_pairs_jsonl(tmp_path / "out" / "pairs.jsonl")
    assert record.screen_text == "" and "lymphocytes" in record.text.lower()

