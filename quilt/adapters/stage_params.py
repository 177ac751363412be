"""Every stage's parameters, built from the one Settings object in one place.

The services and `quilt process` both take their stage parameters from here, so the two paths
cannot drift apart; stage code itself never reads Settings or the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from quilt.adapters.config import Settings
from quilt.stages.align import AlignParams
from quilt.stages.asr import AsrParams, TermRescue
from quilt.stages.asr.whisper import default_whisper_path
from quilt.stages.common.media_limits import MediaLimits
from quilt.stages.common.screen_text import OcrParams
from quilt.stages.fetch import FetchParams, parse_allow
from quilt.stages.histo import HistoParams


def whisper_prompt(settings: Settings) -> str | None:
    """The transcribers' convention: None = the domain-vocabulary default, "" = no prompt."""
    if not settings.asr_prompt:
        return None
    return "" if settings.asr_prompt.strip().lower() == "none" else settings.asr_prompt


def whisper_model_path(env: Mapping[str, str] = os.environ) -> Path:
    """The faster-whisper weights: QUILT_WHISPER_MODEL (a variable, not a setting: Triton's whisper model reads
    it too), else the packaged tiny.en copy."""
    return default_whisper_path(env.get("QUILT_WHISPER_MODEL") or None)


def term_rescue(settings: Settings) -> TermRescue | None:
    """The wider-beam redo of sentences that lost every term; None when asr_rescue_beam turns it off."""
    return TermRescue(beam_size=settings.asr_rescue_beam) if settings.asr_rescue_beam > 1 else None


def local_roots(settings: Settings) -> tuple[str, ...] | None:
    """None: any folder; () : none; else the folders local file sources must lie in."""
    if settings.local_source_roots.strip() == "*":
        return None
    return tuple(part.strip() for part in settings.local_source_roots.split(",") if part.strip())


def media_limits(settings: Settings) -> MediaLimits:
    return MediaLimits(max_duration_s=settings.max_duration_s, max_pixels=settings.max_pixels,
                       max_fps=settings.max_fps, max_bytes=settings.max_bytes)


def ocr_params(settings: Settings) -> OcrParams:
    return OcrParams(enabled=settings.ocr_enabled, timeout_s=settings.ocr_timeout_s)


def fetch_params(settings: Settings) -> FetchParams:
    return FetchParams(max_bytes=settings.max_bytes or None, allow=parse_allow(settings.fetch_allow),
                       local_roots=local_roots(settings))


def asr_params(settings: Settings) -> AsrParams:
    return AsrParams(overlap_s=settings.asr_overlap_s, initial_prompt=whisper_prompt(settings),
                     rescue=term_rescue(settings), non_english=settings.non_english)


def histo_params(settings: Settings) -> HistoParams:
    return HistoParams(threshold=settings.histo_threshold)


def align_params(settings: Settings) -> AlignParams:
    return AlignParams(pad_s=settings.pair_pad_s, max_lag_s=settings.pair_max_lag_s,
                       max_words=settings.pair_max_words, dedup_min_jaccard=settings.pair_dedup_jaccard,
                       break_tolerance_s=settings.pair_break_tolerance_s)
