"""The default Whisper vocabulary prompt."""

from __future__ import annotations

from quilt.stages.asr.prompt import default_prompt, histo_terms


def test_prompt_is_a_short_sentence_of_known_terms() -> None:
    prompt = default_prompt()
    assert prompt.startswith("Histopathology lecture.") and prompt.endswith(".")
    assert len(prompt) <= 400
    for term in ("hematoxylin and eosin", "immunohistochemistry", "lymphocyte", "necrosis"):
        assert term in prompt
    body = prompt.split(".", 1)[1]
    listed = [t.strip() for part in body.rstrip(".").split(";") for t in part.split(":", 1)[1].split(",")]
    assert listed and all(t.lower() in histo_terms() for t in listed)  # every term comes from the list file


def test_short_budget_still_covers_every_group() -> None:
    short = default_prompt(160)
    assert len(short) <= 160
    for group in ("Stains:", "cells:", "structures:", "findings:"):
        assert group in short
    assert len(default_prompt(10)) <= 10


def test_prompt_fits_whisper_token_limit() -> None:
    from faster_whisper import WhisperModel

    from quilt.stages.asr.whisper import default_whisper_path

    model = WhisperModel(str(default_whisper_path()), compute_type="int8", cpu_threads=1)
    # Whisper keeps the last ~223 prompt tokens; a longer prompt would silently lose its start.
    assert len(model.hf_tokenizer.encode(" " + default_prompt()).ids) < 200
