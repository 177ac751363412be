"""The denoiser service adapter: settings choose the backend, and the message says which one ran."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import structlog

from quilt.adapters.config import Settings
from quilt.adapters.store import LocalStore
from quilt.adapters.wire import segments_to_pb
from quilt.stack.ports import free_port
from quiltpb.v1 import messages_pb2 as pb
from services import denoiser
from services.contract import Context
from tests.stages.denoise.test_llm_denoise import StandIn, _segments, server  # noqa: F401 - the stand-in LLM fixture


def _context(tmp_path: Path, **settings: object) -> Context:
    ctx = Context(settings=replace(Settings(), **settings), store=LocalStore(tmp_path),  # type: ignore[arg-type]
                  log=structlog.get_logger())
    denoiser.setup(ctx)
    return ctx


def _transcript() -> pb.Transcript:
    return pb.Transcript(video_id="v-1", source="x.mp4", model="faster-whisper/tiny.en",
                         segments=segments_to_pb(_segments()))


def test_llm_backend_from_settings(tmp_path: Path, server: tuple[str, StandIn]) -> None:  # noqa: F811
    url, _ = server
    ctx = _context(tmp_path, llm_base_url=url, llm_model="stand-in", llm_timeout_s=5.0)
    result = denoiser.handle(ctx, "transcripts", _transcript())
    [out] = result.outputs
    assert isinstance(out.message, pb.DenoisedText)
    assert out.message.backend == "llm:stand-in" and out.message.models["denoiser"] == "llm:stand-in"
    first = out.message.sentences[0]
    assert first.text == "The hematoxylin stains the nuclei blue." and first.medical
    assert dict(first.correction_scores) == {"hepatoxylin": pytest.approx(0.93)}
    assert ("hematoxylin", "stain") in [(e.text, e.category) for e in first.entities]


def test_unreachable_llm_falls_back_and_says_so(tmp_path: Path) -> None:
    ctx = _context(tmp_path, llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_model="m", llm_timeout_s=2.0)
    [out] = denoiser.handle(ctx, "transcripts", _transcript()).outputs
    assert out.message.backend.startswith("lexicon-denoiser-v1 (fallback")
    assert out.message.models["denoiser"] == "lexicon-denoiser-v1"
    assert any(s.medical for s in out.message.sentences)


def test_no_llm_configured_uses_the_lexicon(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    [out] = denoiser.handle(ctx, "transcripts", _transcript()).outputs
    assert out.message.backend == "lexicon-denoiser-v1"


def test_the_transcripts_screen_terms_steer_corrections_within_bounds(tmp_path: Path) -> None:
    from quilt.core.types import Segment, Word

    words = [Word(w, i * 0.4, i * 0.4 + 0.3, 0.3 if w == "thyroglobin" else 0.95)
             for i, w in enumerate("The thyroglobin stain marks the colloid.".split())]
    segments = segments_to_pb([Segment(0.0, 2.8, " ".join(w.text for w in words), words)])
    ctx = _context(tmp_path)
    plain = denoiser.handle(ctx, "transcripts", pb.Transcript(video_id="v-1", segments=segments)).outputs[0]
    assert plain.message.sentences[0].text == "The thyroglobin stain marks the colloid."
    seen = pb.Transcript(video_id="v-1", segments=segments,
                         screen=[pb.ScreenShown(t_start=0.0, t_end=6.0, terms=["thyroglobulin"])])
    [out] = denoiser.handle(ctx, "transcripts", seen).outputs
    assert out.message.sentences[0].text == "The thyroglobulin stain marks the colloid."
    # A forged message with a flood of terms is cut to the first few: the term is past the cut here.
    flood = pb.Transcript(video_id="v-1", segments=segments, screen=[pb.ScreenShown(
        t_start=0.0, t_end=6.0, terms=[f"x{i}" * 200 for i in range(10_000)] + ["thyroglobulin"])])
    [out] = denoiser.handle(ctx, "transcripts", flood).outputs
    assert out.message.sentences[0].text == "The thyroglobin stain marks the colloid."
    # ...and so are spans past the limit, and spans with times that are not numbers.
    spans = [pb.ScreenShown(t_start=1000.0 + i, t_end=1001.0 + i, terms=["colloid"]) for i in range(5000)]
    spans += [pb.ScreenShown(t_start=float("nan"), t_end=float("inf"), terms=["thyroglobulin"]),
              pb.ScreenShown(t_start=0.0, t_end=6.0, terms=["thyroglobulin"])]
    [out] = denoiser.handle(ctx, "transcripts", pb.Transcript(video_id="v-1", segments=segments, screen=spans)).outputs
    assert out.message.sentences[0].text == "The thyroglobin stain marks the colloid."
