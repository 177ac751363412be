"""Denoise stage: a raw transcript -> corrected sentences, the medical ones marked and their entities tagged.

`denoise_transcript` is the stage's one entry point, called by the denoiser service and by
`quilt process`. An OpenAI-compatible LLM corrects the text when one is given (`LlmDenoiser`);
without one, or when it fails, the embedded lexicon corrector does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quilt.core.types import Segment, Sentence
from quilt.stages.common.corrector import DENOISER_NAME
from quilt.stages.common.lexicon import Lexicon, load_lexicon
from quilt.stages.common.screen_vocab import MAX_SCREEN_TERMS, ScreenShown
from quilt.stages.denoise.llm import LlmDenoiser, denoise_with

__all__ = ["DENOISER_NAME", "MAX_SCREEN_TERMS", "Denoised", "LlmDenoiser", "ScreenShown", "denoise_transcript",
           "load_lexicon"]


@dataclass
class Denoised:
    sentences: list[Sentence]
    backend: str  # which backend produced the text: "llm:<model>" or the lexicon corrector's label
    model: str  # the name recorded in each pair's `models["denoiser"]`


def denoise_transcript(segments: list[Segment], lexicon: Lexicon, llm: LlmDenoiser | None = None,
                       screen: Sequence[ScreenShown] = ()) -> Denoised:
    """Sentences of `segments`, corrected by `llm` (falling back to the lexicon corrector) or the lexicon alone.

    `screen`, the terms the lecture's slides spelled and when (the ASR stage's `Transcript.screen`), gives
    each sentence the terms shown around it as preferred correction targets.
    """
    sentences, backend = denoise_with(llm, segments, lexicon, screen)
    return Denoised(sentences=sentences, backend=backend,
                    model=backend if backend.startswith("llm:") else DENOISER_NAME)
