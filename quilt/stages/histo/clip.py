"""The histology filter as a CLIP zero-shot prompt classifier, over the project's own continually trained CLIP.

`training/` trains CLIP on the pair stream and `training/promote.py` promotes a checkpoint that beats the
served one as a new version of the Triton model `clip`; `quilt search` uses that model, and with this
module the histology filter can too. Set

    histo_model = "quilt.adapters.served_clip:served_clip"        # quilt.toml, or
    QUILT_HISTO_MODEL=quilt.adapters.served_clip:served_clip      # env; also read by triton_models/histo_classifier

and each frame is embedded by the served CLIP and compared with two sets of text prompts, histology ones
("an H&E stained histopathology image", ...) and everything a lecture video shows besides ("a photo of a
person", "a lecture slide with text", ...). P(histology) is the share of a softmax over all prompts that
falls on the histology prompts (`histology_probability`). The plugin factory (quilt/adapters/served_clip.py)
opens the Triton client and reads the prompt sets from the environment; this module only scores. The scorer
asks Triton for the served version on every `score` call, so a newly promoted
version is used (and named: `clip-zero-shot-v<N>`) without a restart; prompt embeddings are cached per version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from quilt.adapters.triton_clip import SearchError
from quilt.core.types import ModelUnavailable
from quilt.stages.histo.model import HistoModelError

NAME_PREFIX = "clip-zero-shot-v"

HISTO_PROMPTS = (
    "an H&E stained histopathology image",
    "a histopathology image of tissue",
    "a microscope image of stained tissue",
    "an immunohistochemistry image of tissue",
)
NONHISTO_PROMPTS = (
    "a photo of a person",
    "a photo of an object",
    "a lecture slide with text",
    "a screenshot of a computer desktop",
    "a diagram",
    "a chart or a table",
)
TEMPERATURE = 100.0  # CLIP's logit scale (exp(log(100)), where training clamps it)
MAX_SIDE = 448  # larger frames are downscaled before they are sent; the model squashes them to its input size


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def histology_probability(image_emb: np.ndarray, histo_emb: np.ndarray, nonhisto_emb: np.ndarray,
                          temperature: float = TEMPERATURE) -> np.ndarray:
    """P(histology) per image: [n, d] image embeddings, [p, d] histology and [q, d] other prompt embeddings -> [n].

    CLIP zero-shot classification with the prompts as classes: logits = temperature * cosine(image, prompt),
    a softmax over all p + q prompts, and the probabilities of the p histology prompts summed. Rows are
    L2-normalised here, so embeddings need not be. With more prompts on one side that side gets a larger
    prior share; balance the sets, or move the decision threshold.
    """
    if len(histo_emb) == 0 or len(nonhisto_emb) == 0:
        raise ValueError("need at least one histology and one non-histology prompt embedding")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    images = np.asarray(image_emb, dtype=np.float64)
    if images.size == 0:
        return np.zeros(0, dtype=np.float64)
    prompts = _normalise(np.concatenate([np.asarray(histo_emb), np.asarray(nonhisto_emb)]))
    logits = temperature * (_normalise(np.atleast_2d(images)) @ prompts.T)
    logits -= logits.max(axis=1, keepdims=True)  # softmax without overflow
    weights = np.exp(logits)
    probs = weights / weights.sum(axis=1, keepdims=True)
    return np.clip(probs[:, :len(histo_emb)].sum(axis=1), 0.0, 1.0)


class ClipClient(Protocol):
    """What the scorer needs of quilt.adapters.triton_clip.TritonClip (tests may hand in a fake)."""

    def served_version(self) -> int: ...

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def _prepared(image: np.ndarray, max_side: int) -> np.ndarray:
    """RGB uint8 (grey and RGBA converted, floats read as [0, 1]), downscaled (aspect kept) to `max_side`."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] < 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected HxWx3 image, got shape {arr.shape}")
    arr = arr[..., :3]
    if not np.issubdtype(arr.dtype, np.integer):  # floats are [0, 1], as quilt.stages.histo.scorers reads them
        arr = np.clip(np.asarray(arr, dtype=np.float64) * 255.0 + 0.5, 0, 255)
    arr = np.ascontiguousarray(arr.astype(np.uint8, copy=False))
    h, w = arr.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        arr = np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
    return arr


class ClipZeroShotScorer:
    """A HistoScorer: CLIP zero-shot over histology vs non-histology prompts, with the CLIP Triton serves now."""

    def __init__(self, clip: ClipClient, positive: Sequence[str] = HISTO_PROMPTS,
                 negative: Sequence[str] = NONHISTO_PROMPTS, temperature: float = TEMPERATURE,
                 max_side: int = MAX_SIDE) -> None:
        self.positive = tuple(p.strip() for p in positive if p.strip())
        self.negative = tuple(p.strip() for p in negative if p.strip())
        if not self.positive or not self.negative:
            raise HistoModelError("the CLIP zero-shot histology filter needs at least one histology and one "
                                  "non-histology prompt")
        if temperature <= 0:
            raise HistoModelError(f"the CLIP zero-shot temperature must be positive, got {temperature}")
        self.clip = clip
        self.temperature = float(temperature)
        self.max_side = int(max_side)
        self._prompt_cache: tuple[int, np.ndarray, np.ndarray] | None = None  # (version, histo, non-histo)
        self.version = self.clip.served_version()
        self.name = f"{NAME_PREFIX}{self.version}"

    def _prompt_embeddings(self, version: int) -> tuple[np.ndarray, np.ndarray]:
        if self._prompt_cache is None or self._prompt_cache[0] != version:
            emb = self.clip.embed_texts(list(self.positive + self.negative))
            self._prompt_cache = (version, emb[:len(self.positive)], emb[len(self.positive):])
        return self._prompt_cache[1], self._prompt_cache[2]

    def score(self, images: list[np.ndarray]) -> list[float]:
        """P(histology) per RGB image, by the newest served version (whose name `name` then carries)."""
        try:
            version = self.clip.served_version()
            self.version, self.name = version, f"{NAME_PREFIX}{version}"
            if not images:
                return []
            prepared = [_prepared(image, self.max_side) for image in images]
            for _ in range(3):
                histo, nonhisto = self._prompt_embeddings(version)
                image_emb = self.clip.embed_images(prepared)
                # A promotion between the prompts' and the images' requests would mix two embedding spaces.
                now = self.clip.served_version()
                if now == version:
                    break
                version = now
                self.version, self.name = version, f"{NAME_PREFIX}{version}"
            else:
                raise ModelUnavailable(f"clip versions kept changing while scoring (now {version})")
        except SearchError as exc:  # Triton down or clip unloaded: retryable, like TritonHistoScorer's failures
            raise ModelUnavailable(str(exc)) from exc
        return [float(p) for p in histology_probability(image_emb, histo, nonhisto, self.temperature)]

