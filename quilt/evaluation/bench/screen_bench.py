"""`quilt bench text --screen`: what the slides' words buy, on narration whose slide shows some of its terms.

Each sentence is shown on a slide of its own (a title bar, a bullet list, a micrograph beside it)
that spells about half of the sentence's terms. The slide is read by the pipeline's OCR
(Tesseract), its terms become the screen vocabulary, and the sentence is transcribed and denoised
twice: without screen vocabulary, and with it (in Whisper's prompt and as the corrector's priors),
exactly as the pipeline does per window. Terms the slide did not show are scored apart, so a
vocabulary that only helps what it shows, and harms nothing else, is visible as such.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from quilt.evaluation.bench.text_corpus import BenchSentence
from quilt.evaluation.bench.text_eval import false_corrections, normalise, speak, term_found
from quilt.stages.asr.screen_prompt import window_prompts
from quilt.stages.asr.whisper import SAMPLE_RATE, Transcriber
from quilt.stages.common.corrector import Lexicon, denoise
from quilt.stages.common.screen_text import OcrParams, read_screen_text
from quilt.stages.common.screen_vocab import screen_terms, shown_throughout
from quilt.testing.slides import histology_slide

# Slide looks: (background, title bar, ink). Light and dark, as lecture templates come.
_LOOKS = (("#ffffff", "#1f3a68", "#111111"), ("#10202f", "#2d6a8f", "#f0f0f0"), ("#f6f1e4", "#7a2e2e", "#222222"))
_TITLES = ("Case review", "Histology teaching set", "Morning conference", "Diagnostic features")


def shown_terms(sentence: BenchSentence, number: int) -> tuple[str, ...]:
    """About half of the sentence's terms, alternating with its position so each term is shown in some sentences."""
    return tuple(t for k, t in enumerate(sentence.terms) if (k + number) % 2 == 0)


def render_slide(terms: Sequence[str], number: int, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A lecture slide: title bar, the terms as bullets (title case), and a micrograph on the right."""
    background, bar, ink = _LOOKS[number % len(_LOOKS)]
    width, height = size
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, int(height * 0.14)), fill=bar)
    draw.text((int(width * 0.04), int(height * 0.035)), _TITLES[number % len(_TITLES)], fill="#ffffff",
              font=ImageFont.load_default(size=int(height * 0.06)))
    body = ImageFont.load_default(size=int(height * 0.045))
    for i, term in enumerate(terms):
        draw.text((int(width * 0.05), int(height * (0.22 + 0.09 * i))), f"- {term[:1].upper()}{term[1:]}",
                  fill=ink, font=body)
    tile = histology_slide(number, (int(width * 0.42), int(height * 0.56)))
    image.paste(Image.fromarray(tile), (int(width * 0.54), int(height * 0.24)))
    return np.asarray(image)


@dataclass
class ScreenUtterance:
    voice: str
    sentence: BenchSentence
    shown: tuple[str, ...]  # the terms its slide spelled
    vocabulary: list[str]  # what the OCR + lexicon made of the slide
    plain_raw: str
    plain: str
    screen_raw: str
    screen: str


@dataclass
class ScreenScores:
    utterances: list[ScreenUtterance] = field(default_factory=list)
    ocr_s: float = 0.0

    def term_accuracy(self, shown: bool, with_screen: bool) -> float:
        pairs = [(t, u.screen if with_screen else u.plain) for u in self.utterances
                 for t in u.sentence.terms if (t in u.shown) == shown]
        return sum(term_found(t, text) for t, text in pairs) / len(pairs) if pairs else 0.0

    def ocr_recall(self) -> float:
        """Shown terms that the OCR + lexicon turned into screen vocabulary."""
        shown = [(t, u.vocabulary) for u in self.utterances for t in u.shown]
        return sum(any(term_found(t, v) for v in vocab) for t, vocab in shown) / len(shown) if shown else 0.0

    def false_correction_rate(self, with_screen: bool) -> float:
        words = sum(len(normalise(u.sentence.text)) for u in self.utterances)
        wrong = sum(false_corrections(u.sentence.text, u.screen_raw if with_screen else u.plain_raw,
                                      u.screen if with_screen else u.plain) for u in self.utterances)
        return wrong / words if words else 0.0

    def summary(self) -> str:
        return (f"text-screen: shown_terms={self.term_accuracy(True, False):.3f}"
                f" shown_terms_with_screen={self.term_accuracy(True, True):.3f}"
                f" other_terms={self.term_accuracy(False, False):.3f}"
                f" other_terms_with_screen={self.term_accuracy(False, True):.3f}"
                f" false_corrections={self.false_correction_rate(False):.4f}"
                f" false_corrections_with_screen={self.false_correction_rate(True):.4f}"
                f" ocr_recall={self.ocr_recall():.3f}")


def run_screen_bench(transcriber: Transcriber, corpus: Sequence[BenchSentence], voices: Sequence[tuple[str, int]],
                     lexicon: Lexicon, prompt: str | None, ocr: OcrParams | None = None,
                     on_progress: Callable[[ScreenUtterance], None] | None = None) -> ScreenScores:
    """Each sentence without and with its slide's vocabulary; `prompt` is the plain run's prompt (None: default)."""
    scores = ScreenScores()
    slides: dict[int, tuple[tuple[str, ...], list[str]]] = {}
    for number, item in enumerate(corpus):  # one slide per sentence, read once whatever the voice
        shown = shown_terms(item, number)
        started = time.perf_counter()
        read = read_screen_text(render_slide(shown, number), ocr or OcrParams())
        scores.ocr_s += time.perf_counter() - started
        slides[number] = (shown, screen_terms(read.text, lexicon))
    for voice, wpm in voices:
        for number, item in enumerate(corpus):
            shown, vocabulary = slides[number]
            on_screen = shown_throughout(vocabulary)
            audio = speak(item.text, voice, wpm)
            plain_segments = transcriber.transcribe(audio, SAMPLE_RATE, initial_prompt=prompt)
            # The prompt the ASR stage gives a window with this slide on screen (asr/screen_prompt.py).
            screen_prompt = window_prompts(on_screen, prompt)(0.0, audio.size / SAMPLE_RATE)
            screen_segments = transcriber.transcribe(audio, SAMPLE_RATE, initial_prompt=screen_prompt)
            utt = ScreenUtterance(
                f"{voice}@{wpm}", item, shown, vocabulary,
                " ".join(s.text.strip() for s in plain_segments),
                " ".join(s.text for s in denoise(plain_segments, lexicon)),
                " ".join(s.text.strip() for s in screen_segments),
                " ".join(s.text for s in denoise(screen_segments, lexicon, screen=on_screen)))
            scores.utterances.append(utt)
            if on_progress is not None:
                on_progress(utt)
    return scores
