"""Whisper's vocabulary prompt for pathology lectures, built from the project's term list.

Small Whisper models mishear stain, cell and tissue names ("hematoc", "mile duct"); a prompt
that lists them biases decoding toward the right spelling. Whisper keeps at most ~224 prompt
tokens, and a long prompt both slows decoding and invites the model to echo it on silence, so
the prompt is a short sentence of the most common terms rather than the whole list.

Prompt convention shared by every Transcriber: `initial_prompt=None` means "the default"
(`default_prompt()` unless the transcriber was configured otherwise), `""` means "no prompt".
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

# Terms that come up in almost any histopathology lecture, whatever the organ; picked for
# generality (stains, everyday cells, structures, findings), in the order they go in the
# prompt. Only those that are in histo_terms.txt are used, so the list file stays the
# single source of vocabulary.
_CORE: dict[str, tuple[str, ...]] = {
    "stains": ("hematoxylin and eosin", "immunohistochemistry", "periodic acid-Schiff", "Masson trichrome",
               "reticulin", "Congo red", "cytokeratin", "Ki-67"),
    "cells": ("hepatocyte", "lymphocyte", "neutrophil", "eosinophil", "plasma cell", "macrophage", "histiocyte",
              "fibroblast"),
    "structures": ("epithelium", "stroma", "basement membrane", "lamina propria", "glomerulus", "bile duct",
                   "cytoplasm", "nucleoli"),
    "findings": ("necrosis", "fibrosis", "granuloma", "atypia", "pleomorphism", "mitotic figure", "dysplasia",
                 "metaplasia", "hyperplasia", "adenocarcinoma", "squamous cell carcinoma"),
}

_LEAD = "Histopathology lecture."


@lru_cache(maxsize=1)
def histo_terms() -> frozenset[str]:
    """Lower-cased terms of quilt/data/histo_terms.txt ('#' lines are comments)."""
    text = resources.files("quilt.data").joinpath("histo_terms.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))


@lru_cache(maxsize=8)
def default_prompt(max_chars: int = 400) -> str:
    """E.g. "Histopathology lecture. Stains: hematoxylin and eosin, ...; cells: ...", at most max_chars.

    Terms are added group by group, round-robin, so a short budget still covers stains, cells,
    structures and findings rather than spending it all on stains.
    """
    known = histo_terms()
    groups = {name: [t for t in terms if t.lower() in known] for name, terms in _CORE.items()}
    chosen: dict[str, list[str]] = {name: [] for name in groups}

    def render() -> str:
        parts = [f"{name}: {', '.join(terms)}" for name, terms in chosen.items() if terms]
        body = "; ".join(parts)
        return f"{_LEAD} {body[:1].upper()}{body[1:]}." if body else _LEAD

    depth = max((len(t) for t in groups.values()), default=0)
    for i in range(depth):
        for name, terms in groups.items():
            if i >= len(terms):
                continue
            chosen[name].append(terms[i])
            if len(render()) > max_chars:
                chosen[name].pop()
                return render() if len(render()) <= max_chars else _LEAD[:max_chars]
    return render()
