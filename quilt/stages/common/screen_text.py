"""Words on the screen: the text of a key frame (slide titles, captions, labels) read with Tesseract OCR.

Lecturers say what their slides show, and the slides spell it: the title above a micrograph or a
caption under it names the very terms a small Whisper mishears. The decoder reads each key frame
once (`read_screen_text`); the ASR and the denoiser use the lecture's on-screen terms (screen_vocab.py)
and the pair record keeps the text (`screen_text`).

OCR is a helper, never a gate: a missing tesseract binary, a timeout, a crash or a frame with no
text all give an empty read with a status saying why, and the video goes on without screen words.
Tesseract is run as a subprocess (Debian's `tesseract-ocr`), fed a PNG on stdin, so a hung or
crashing OCR is killed at its timeout without touching the decoder's process.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass

import numpy as np
from PIL import Image

from quilt.core.imaging import to_grey

# Statuses of a read: "ok" found words; "empty" ran and found none; "off" was not asked for;
# "unavailable" no tesseract binary; "timeout" and "failed" are OCR faults (the text is then empty).
OCR_STATUSES = ("ok", "empty", "off", "unavailable", "timeout", "failed")
FAILED_STATUSES = ("unavailable", "timeout", "failed")


@dataclass(frozen=True)
class OcrParams:
    enabled: bool = True
    # Slides are read at this longer side: titles and captions of a 720p or 1080p slide stay
    # legible, and Tesseract takes about 0.4 s a frame instead of 0.9 s at 1280 px.
    max_side: int = 960
    timeout_s: float = 10.0  # one frame; past it the OCR process is killed and the frame has no text
    # Tesseract's word confidence (0-100) below which a word is taken for texture read as letters:
    # tissue, charts and photos give short low-confidence "words" ("ee", "oN"), slide text scores > 85.
    min_confidence: float = 60.0
    max_chars: int = 2000  # a frame's text is cut here: a slide is not a page, and records stay small
    command: str = "tesseract"
    language: str = "eng"


@dataclass(frozen=True)
class ScreenRead:
    text: str  # the frame's lines, "\n"-joined; "" when none was read
    status: str  # one of OCR_STATUSES
    detail: str = ""  # why the OCR failed, for logs

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES


def _png(image: np.ndarray, max_side: int) -> bytes:
    grey = Image.fromarray(np.clip(to_grey(image), 0, 255).astype(np.uint8))
    scale = max_side / max(grey.size)
    if scale < 1:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
                           Image.Resampling.LANCZOS)
    out = io.BytesIO()
    grey.save(out, format="PNG")
    return out.getvalue()


def _plausible(word: str) -> bool:
    """A word, a number or a marker ("Ki-67", "HER2", "40x"), not a smear of punctuation."""
    alnum = sum(ch.isalnum() for ch in word)
    return alnum >= 2 and alnum >= 0.6 * len(word)


def lines_from_tsv(tsv: str, min_confidence: float) -> list[str]:
    """The confident words of Tesseract's TSV output, grouped into its lines, in reading order."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) != 12 or fields[0] != "5":
            continue
        try:
            confidence = float(fields[10])
        except ValueError:
            continue
        word = fields[11].strip()
        if confidence >= min_confidence and _plausible(word):
            lines.setdefault((fields[2], fields[3], fields[4]), []).append(word)
    return [" ".join(words) for words in lines.values()]


def read_screen_text(image: np.ndarray, params: OcrParams = OcrParams()) -> ScreenRead:
    """The text Tesseract reads on `image` (H x W x 3 RGB or H x W grey); never raises."""
    if not params.enabled:
        return ScreenRead("", "off")
    if image.ndim not in (2, 3) or image.size == 0 or min(image.shape[:2]) < 8:
        return ScreenRead("", "empty", "frame too small to hold text")
    try:
        png = _png(image, params.max_side)
        done = subprocess.run([params.command, "stdin", "stdout", "-l", params.language, "--psm", "3", "tsv"],
                              input=png, capture_output=True, timeout=params.timeout_s, check=False)
    except FileNotFoundError:
        return ScreenRead("", "unavailable", f"{params.command!r} not found (Debian: apt-get install tesseract-ocr)")
    except subprocess.TimeoutExpired:
        return ScreenRead("", "timeout", f"OCR took over {params.timeout_s:g} s")
    except (OSError, ValueError) as err:
        return ScreenRead("", "failed", f"{type(err).__name__}: {err}")
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return ScreenRead("", "failed", f"tesseract exit {done.returncode}: {message[-1] if message else ''}"[:300])
    lines = lines_from_tsv(done.stdout.decode("utf-8", "replace"), params.min_confidence)
    text = "\n".join(lines)[: params.max_chars].strip()
    return ScreenRead(text, "ok" if text else "empty")
