"""OCR of key frames (Tesseract, run for real) and what a failing OCR gives: an empty read, never an exception."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from quilt.stages.common.lexicon import load_lexicon
from quilt.stages.common.screen_text import OcrParams, lines_from_tsv, read_screen_text
from quilt.stages.common.screen_vocab import screen_terms
from quilt.testing.impure import clean_tissue


def slide(lines: list[str], size: tuple[int, int] = (960, 540), ink: str = "black", paper: str = "white",
          picture: np.ndarray | None = None) -> np.ndarray:
    """A slide with a line of text per entry, and optionally a micrograph on its right half."""
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size[1] // 16)
    for i, line in enumerate(lines):
        draw.text((size[0] // 20, size[1] // 12 + i * size[1] // 9), line, fill=ink, font=font)
    if picture is not None:
        tile = Image.fromarray(picture).resize((size[0] // 2 - 20, size[1] // 2))
        image.paste(tile, (size[0] // 2, size[1] // 3))
    return np.asarray(image)


def test_a_slides_title_and_caption_are_read() -> None:
    read = read_screen_text(slide(["Thyroid gland", "Papillary carcinoma", "Psammoma bodies"]))
    assert read.status == "ok"
    assert "Thyroid gland" in read.text and "Papillary carcinoma" in read.text
    terms = screen_terms(read.text, load_lexicon())
    assert {"papillary", "carcinoma", "psammoma body", "thyroid gland"} <= {t.lower() for t in terms}


def test_light_text_on_a_dark_slide_beside_a_micrograph_is_read() -> None:
    tissue = clean_tissue(1)[0]
    read = read_screen_text(slide(["Granuloma", "Langhans giant cell"], ink="white", paper="#1d2b4a", picture=tissue))
    assert "Granuloma" in read.text and "Langhans giant cell" in read.text


def test_tissue_alone_gives_no_screen_terms() -> None:
    lexicon = load_lexicon()
    for seed in range(3):
        read = read_screen_text(clean_tissue(seed)[0])
        assert read.status in ("ok", "empty")
        assert screen_terms(read.text, lexicon) == []


@pytest.mark.parametrize("image", [np.zeros((4, 4, 3), np.uint8), np.zeros((0, 0, 3), np.uint8),
                                   np.full((200, 300, 3), 255, np.uint8)])
def test_blank_or_tiny_frames_read_as_empty(image: np.ndarray) -> None:
    read = read_screen_text(image)
    assert read.text == "" and read.status == "empty" and not read.failed


def test_noise_does_not_become_words() -> None:
    noise = np.random.default_rng(3).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    read = read_screen_text(noise)
    assert not read.failed and len(read.text) < 40


def test_a_missing_tesseract_is_unavailable_not_an_error(tmp_path: Path) -> None:
    read = read_screen_text(slide(["Necrosis"]), OcrParams(command=str(tmp_path / "no-such-tesseract")))
    assert read.status == "unavailable" and read.failed and read.text == ""
    assert "tesseract-ocr" in read.detail


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-ocr"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_a_hung_ocr_is_killed_at_its_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    read = read_screen_text(slide(["Fibrosis"]), OcrParams(command=_script(tmp_path, "sleep 30"), timeout_s=0.5))
    assert read.status == "timeout" and read.text == ""
    assert time.monotonic() - started < 10


def test_a_crashing_ocr_gives_its_message(tmp_path: Path) -> None:
    crashing = _script(tmp_path, "echo 'Error: bad image' >&2; exit 3")
    read = read_screen_text(slide(["Fibrosis"]), OcrParams(command=crashing))
    assert read.status == "failed" and "exit 3" in read.detail and "bad image" in read.detail


def test_garbage_output_is_ignored(tmp_path: Path) -> None:
    command = _script(tmp_path, "head -c 2000 /dev/urandom")
    read = read_screen_text(slide(["Fibrosis"]), OcrParams(command=command))
    assert read.status in ("empty", "ok") and len(read.text) <= OcrParams().max_chars


def test_disabled_ocr_reads_nothing() -> None:
    read = read_screen_text(slide(["Fibrosis"]), OcrParams(enabled=False))
    assert read.status == "off" and read.text == ""


def test_tsv_lines_keep_only_confident_plausible_words() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t96.5\tThyroid",
        "5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t95.0\tgland",
        "5\t1\t2\t1\t1\t1\t0\t0\t10\t10\t12.0\tTy",  # texture read as letters
        "5\t1\t2\t1\t1\t2\t0\t0\t10\t10\t90.0\t”",  # punctuation smear
        "5\t1\t3\t1\t1\t1\t0\t0\t10\t10\t91.0\tKi-67",
        "5\t1\t3\t1\t1\t2\t0\t0\t10\t10\tnot-a-number\tjunk",
        "4\t1\t3\t1\t1\t0\t0\t0\t10\t10\t-1\t",
        "short\trow",
    ]
    assert lines_from_tsv("\n".join([header, *rows]), 60.0) == ["Thyroid gland", "Ki-67"]


def test_tesseract_is_installed_for_the_pipeline() -> None:
    # make setup installs it (scripts/system_deps.sh); without it every frame would read as unavailable.
    assert any(os.access(Path(d) / "tesseract", os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep))
