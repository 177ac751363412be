"""Word helpers shared by the lexicon, the entity tagger and the text benchmark."""

from __future__ import annotations


def singular(word: str) -> str:
    """Crude plural folding applied to terms and text alike: "bodies" -> "body", "nuclei" stays."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("es") and word[-3] in "sxh":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
