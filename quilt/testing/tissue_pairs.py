"""Generated image-text pairs of K tissue types, each with its own texture, colour and vocabulary.

A stand-in for the pair stream when training CLIP: a model that learns which words go with which
texture can classify held-out images zero-shot ("a histopathology image of liver tissue").
Deterministic by seed; held-out sets use seeds disjoint from the training stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from quilt.adapters.store import ObjectStore
from quilt.core.imaging import encode_jpeg
from quilt.core.records import PairRecord


@dataclass(frozen=True)
class TissueType:
    name: str
    colour: tuple[int, int, int]  # mean RGB of the stain
    pattern: str  # which texture generator
    words: tuple[str, ...]  # vocabulary its captions draw from


TISSUE_TYPES = (
    TissueType("liver", (176, 84, 120), "cords", ("hepatocytes", "sinusoids", "portal", "bile", "lobule", "cords")),
    TissueType("lung", (210, 160, 200), "alveoli", ("alveoli", "septa", "bronchiole", "pneumocytes", "air", "thin")),
    TissueType("kidney", (150, 60, 170), "dots", ("glomeruli", "tubules", "nephron", "podocytes", "cortex", "casts")),
    TissueType("colon", (110, 70, 160), "stripes", ("crypts", "goblet", "mucosa", "glands", "mucin", "epithelium")),
    TissueType("skin", (200, 110, 90), "layers", ("epidermis", "keratin", "dermis", "squamous", "rete", "collagen")),
)
INTROS = ("here we see", "this section shows", "notice the", "at high power the", "look at the", "classic")


def _pattern(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A [0, 1] texture whose structure (not only colour) tells the tissue types apart."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    period = rng.uniform(5.0, 8.0)
    if kind == "cords":  # diagonal plates
        field = np.sin((x + y) * 2 * np.pi / period + phase)
    elif kind == "stripes":  # vertical crypts
        field = np.sin(x * 2 * np.pi / period + phase)
    elif kind == "layers":  # horizontal layers
        field = np.sin(y * 2 * np.pi / (period * 1.5) + phase)
    elif kind == "dots":  # round bodies on a grid
        field = np.sin(x * 2 * np.pi / period + phase) * np.sin(y * 2 * np.pi / period + phase)
        field = np.abs(field) * 2 - 1
    else:  # alveoli: mostly empty with thin rings
        r = np.hypot((x % (2 * period)) - period, (y % (2 * period)) - period)
        field = np.cos(r * 2 * np.pi / period + phase)
    return (field - field.min()) / max(float(np.ptp(field)), 1e-6)


def tissue_image(type_index: int, seed: int, size: int = 64) -> np.ndarray:
    tissue = TISSUE_TYPES[type_index]
    rng = np.random.default_rng(seed * 7919 + type_index)
    texture = _pattern(tissue.pattern, rng, size)[..., None]
    colour = np.array(tissue.colour, np.float32) + rng.normal(0, 12, 3)  # stain varies between slides
    image = 245 - (245 - colour) * (0.35 + 0.65 * texture) + rng.normal(0, 10, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def tissue_caption(type_index: int, seed: int) -> str:
    tissue = TISSUE_TYPES[type_index]
    rng = random.Random(seed * 104729 + type_index)
    words = rng.sample(tissue.words, 2)
    return f"{rng.choice(INTROS)} {tissue.name} {words[0]} and {words[1]}"


def class_names() -> list[str]:
    return [t.name for t in TISSUE_TYPES]


def tissue_pairs(store: ObjectStore, seeds: range, prefix: str = "pairs", low_quality_every: int = 0,
                 size: int = 64) -> list[PairRecord]:
    """One pair per seed (tissue type = seed mod K), its JPEG written to `store`; sub_pathology holds the type.

    Every `low_quality_every`-th pair (0 = none) gets histo_score 0.1, which the trainer's quality filter drops.
    """
    records = []
    for seed in seeds:
        index = seed % len(TISSUE_TYPES)
        key = f"{prefix}/images/{seed:07d}.jpg"
        store.put_bytes(key, encode_jpeg(tissue_image(index, seed, size)), "image/jpeg")
        low = bool(low_quality_every) and seed % low_quality_every == 0
        records.append(PairRecord(
            pair_id=f"tissue-{seed:07d}", video_id=f"gen-{seed // 100}", source="generated", image=key,
            t_start=0.0, t_end=1.0, text=tissue_caption(index, seed), asr_text=tissue_caption(index, seed),
            histo_score=0.1 if low else 0.95, image_id=f"img-{seed:07d}", align_score=0.9,
            sub_pathology=[TISSUE_TYPES[index].name],
        ))
    return records
