"""Pairing kept chunks with the medical sentences spoken around them."""

from __future__ import annotations

from quilt.ids import pair_id
from quilt.records import PairRecord
from quilt.stages.align import align
from quilt.stages.types import ScoredChunk, Sentence

MODELS = {"asr": "whisper-test", "denoiser": "lexicon-denoiser-v1"}
NOW = "2024-01-01T00:00:00Z"


def chunk(t0: float, t1: float, keep: bool = True, score: float = 0.9) -> ScoredChunk:
    return ScoredChunk(f"c{t0:g}", t0, t1, f"frames/{t0:g}.jpg", score, keep)


def sent(t0: float, t1: float, text: str, medical: bool = True) -> Sentence:
    return Sentence(t0, t1, text, text.lower(), medical)


def run(chunks: list[ScoredChunk], sentences: list[Sentence], pad: float = 1.0) -> list[PairRecord]:
    return align("v-1", "test.mp4", chunks, sentences, MODELS, NOW, pad_s=pad)


def test_sentences_inside_the_padded_window_are_paired() -> None:
    sentences = [
        sent(9.5, 10.2, "Just before."),       # overlaps the padding before the chunk
        sent(12.0, 14.0, "Inside."),
        sent(20.5, 21.0, "Just after."),       # overlaps the padding after the chunk
        sent(22.0, 24.0, "Too late."),         # outside the padded window
        sent(2.0, 8.0, "Too early."),
    ]
    [pair] = run([chunk(10.0, 20.0)], sentences)
    assert pair.text == "Just before. Inside. Just after."
    assert pair.asr_text == "just before. inside. just after."
    assert (pair.t_start, pair.t_end, pair.image) == (10.0, 20.0, "frames/10.jpg")
    assert pair.histo_score == 0.9 and pair.models == MODELS and pair.created_at == NOW
    assert (pair.video_id, pair.source) == ("v-1", "test.mp4")


def test_sentence_is_never_cut_and_goes_to_the_larger_overlap() -> None:
    chunks = [chunk(0.0, 10.0), chunk(10.0, 20.0)]
    sentences = [sent(8.0, 15.0, "Mostly in the second."), sent(5.0, 11.0, "Mostly in the first.")]
    first, second = run(chunks, sentences)
    assert first.text == "Mostly in the first."
    assert second.text == "Mostly in the second."


def test_tie_goes_to_the_earlier_chunk() -> None:
    chunks = [chunk(10.0, 20.0), chunk(0.0, 10.0)]  # given out of order
    [pair] = run(chunks, [sent(8.0, 12.0, "Straddles both.")])
    assert pair.t_start == 0.0


def test_sentence_in_a_gap_goes_to_the_nearer_chunk() -> None:
    chunks = [chunk(0.0, 10.0), chunk(12.0, 20.0)]
    [pair] = run(chunks, [sent(11.2, 11.6, "Closer to the second.")])
    assert pair.t_start == 12.0


def test_non_keep_chunks_are_dropped_and_do_not_steal_text() -> None:
    chunks = [chunk(0.0, 10.0), chunk(10.0, 20.0, keep=False)]
    [pair] = run(chunks, [sent(9.0, 18.0, "Said over the title slide.")])
    assert pair.t_start == 0.0
    assert all(p.t_start != 10.0 for p in run([chunk(10.0, 20.0, keep=False)], [sent(12, 14, "x.")]))


def test_no_pair_without_medical_text() -> None:
    chunks = [chunk(0.0, 10.0), chunk(20.0, 30.0)]
    sentences = [sent(2.0, 4.0, "Like and subscribe.", medical=False), sent(22.0, 24.0, "Granuloma.")]
    pairs = run(chunks, sentences)
    assert [p.t_start for p in pairs] == [20.0]
    assert run(chunks, []) == []


def test_pair_ids_are_deterministic_and_output_ordered() -> None:
    chunks = [chunk(30.0, 40.0), chunk(0.0, 10.0), chunk(15.0, 25.0)]
    sentences = [sent(32.0, 33.0, "C."), sent(1.0, 2.0, "A."), sent(16.0, 17.0, "B.")]
    pairs = run(chunks, sentences)
    again = run(list(reversed(chunks)), list(reversed(sentences)))
    assert [p.to_dict() for p in pairs] == [p.to_dict() for p in again]
    assert [p.t_start for p in pairs] == [0.0, 15.0, 30.0]
    assert pairs[0].pair_id == pair_id("v-1", 0.0, 10.0, "A.")
    assert len({p.pair_id for p in pairs}) == 3


def test_zero_padding_needs_real_overlap() -> None:
    assert run([chunk(10.0, 20.0)], [sent(20.0, 21.0, "Touches the end only.")], pad=0.0) == []
