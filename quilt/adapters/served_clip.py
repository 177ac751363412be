"""The `histo_model` plugin that scores frames with the project's own served CLIP (quilt/stages/histo/clip.py).

    histo_model = "quilt.adapters.served_clip:served_clip"      # quilt.toml, or QUILT_HISTO_MODEL (also read
                                                                # by triton_models/histo_classifier)

A plugin factory is called without arguments, so this adapter is where the client is opened and the
environment is read: QUILT_CLIP_TRITON_URL (else the `triton` setting) names Triton's gRPC address, and
QUILT_CLIP_HISTO_PROMPTS / QUILT_CLIP_NONHISTO_PROMPTS ("|"-separated) replace the prompt sets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from quilt.adapters import triton_clip
from quilt.stages.histo import ClipZeroShotScorer, HistoModelError
from quilt.stages.histo.clip import HISTO_PROMPTS, NONHISTO_PROMPTS

SPEC = "quilt.adapters.served_clip:served_clip"
ENV_URL = "QUILT_CLIP_TRITON_URL"
ENV_HISTO_PROMPTS = "QUILT_CLIP_HISTO_PROMPTS"
ENV_NONHISTO_PROMPTS = "QUILT_CLIP_NONHISTO_PROMPTS"
PROMPT_SEPARATOR = "|"


def env_prompts(env: Mapping[str, str], name: str, default: Sequence[str]) -> tuple[str, ...]:
    raw = env.get(name, "")
    prompts = tuple(p.strip() for p in raw.split(PROMPT_SEPARATOR) if p.strip())
    return prompts or tuple(default)


def served_clip() -> ClipZeroShotScorer:
    """The zero-shot scorer over Triton's `clip` model.

    HistoModelError, naming the URL, when Triton is not reachable or serves no `clip` version yet.
    """
    env = os.environ
    url = env.get(ENV_URL, "").strip()
    if not url:
        from quilt.adapters.config import load_settings

        url = load_settings().triton
    positive = env_prompts(env, ENV_HISTO_PROMPTS, HISTO_PROMPTS)
    negative = env_prompts(env, ENV_NONHISTO_PROMPTS, NONHISTO_PROMPTS)
    try:
        clip = triton_clip.TritonClip(url)
    except Exception as exc:  # noqa: BLE001 - tritonclient rejects a malformed address here
        raise HistoModelError(f"histo model {SPEC!r}: cannot open a Triton client for {url!r}: {exc}") from exc
    try:
        return ClipZeroShotScorer(clip, positive, negative)
    except triton_clip.SearchError as exc:
        clip.close()
        hint = "" if "promote" in str(exc) else (f"; start Triton (or set {ENV_URL}) and promote a checkpoint "
                                                 "first (python -m training.promote)")
        raise HistoModelError(f"histo model {SPEC!r} needs the `clip` model that Triton at {url} serves: "
                              f"{exc}{hint}") from exc
    except BaseException:
        clip.close()
        raise
