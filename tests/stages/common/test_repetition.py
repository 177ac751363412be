"""Whisper repetition loops: found by compression ratio, cut back to one copy."""

from __future__ import annotations

from quilt.core.types import Segment, Word
from quilt.stages.common.repetition import compression_ratio, drop_loops, looping


def words(text: str) -> list[Word]:
    return [Word(token, i * 0.5, i * 0.5 + 0.4, 0.9) for i, token in enumerate(text.split())]


def test_loops_compress_like_whisper_says_and_sentences_do_not() -> None:
    loop = "cythylin, " * 20
    sentence = "Ductal carcinoma in situ with comedo necrosis fills these ducts."
    assert compression_ratio(loop) > 2.4 > compression_ratio(sentence)
    assert looping([Segment(0, 9, sentence), Segment(9, 20, loop)]) and not looping([Segment(0, 9, sentence)])


def test_a_loop_is_cut_to_its_first_copy_and_emphasis_is_left_alone() -> None:
    def cut(text: str) -> str:
        return " ".join(w.text for w in drop_loops(words(text)))

    assert cut("cythylin, cythylin, cythylin, cythylin,") == "cythylin,"
    assert cut("in the blood of the body, the blood of the body, the blood of the body. Next") == \
        "in the blood of the body. Next"
    for kept in ("very, very small cells", "the the nuclei", "CD3 CD4 CD3 CD4 markers"):  # two copies: not a loop
        assert cut(kept) == kept
    kept_words = drop_loops(words("a b c a b c a b c d"))
    assert [(w.text, w.start) for w in kept_words] == [("a", 0.0), ("b", 0.5), ("c", 1.0), ("d", 4.5)]
