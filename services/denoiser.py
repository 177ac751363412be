"""Denoiser: raw transcript -> corrected sentences, medical ones marked and their entities tagged.

With `llm_base_url` set, an OpenAI-compatible LLM corrects the text; on timeout,
invalid output or unavailability the embedded lexicon corrector takes over, and
the message says which backend produced the text.
"""

from __future__ import annotations

import math

from google.protobuf.message import Message

from quilt.adapters.wire import segments_from_pb, sentences_to_pb
from quilt.core import topics
from quilt.stages.denoise import MAX_SCREEN_TERMS, LlmDenoiser, ScreenShown, denoise_transcript, load_lexicon
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main

MAX_TERM_CHARS = 80
MAX_SCREEN_SPANS = 1000  # key frame showings a transcript may carry (a 4-hour lecture has a few hundred)


def setup(ctx: Context) -> None:
    ctx.clients["lexicon"] = load_lexicon()
    s = ctx.settings
    ctx.clients["llm"] = (LlmDenoiser(s.llm_base_url, s.llm_model, api_key=s.llm_api_key or None,
                                      timeout_s=s.llm_timeout_s) if s.llm_base_url else None)


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.Transcript)
    # Screen terms come from a message: bounded in number and length before they steer any correction.
    screen = [ScreenShown(s.t_start, s.t_end, tuple(t[:MAX_TERM_CHARS] for t in list(s.terms)[:MAX_SCREEN_TERMS]))
              for s in list(message.screen)[:MAX_SCREEN_SPANS] if math.isfinite(s.t_start) and math.isfinite(s.t_end)]
    denoised = denoise_transcript(segments_from_pb(list(message.segments)), ctx.clients["lexicon"],
                                  ctx.clients["llm"], screen)
    sentences, backend = denoised.sentences, denoised.backend
    out = pb.DenoisedText(video_id=message.video_id, source=message.source, sentences=sentences_to_pb(sentences),
                          models={"asr": message.model, "denoiser": denoised.model}, backend=backend)
    return Result(outputs=[Output(topics.DENOISED, message.video_id, out)],
                  detail={"sentences": len(sentences), "medical": sum(s.medical for s in sentences),
                          "corrections": sum(len(s.corrections) for s in sentences), "backend": backend})


SPEC = ServiceSpec(name="denoiser", inputs={topics.TRANSCRIPTS: pb.Transcript}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
