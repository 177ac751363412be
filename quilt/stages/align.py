"""Pair each kept image with what the narrator said while it was on screen.

Speech lags or leads the picture a little, so each chunk's window is padded.
Sentences are never cut: a half sentence is worse training text than a whole
one that runs a second past the image. Each sentence goes to exactly one image
so the same words are not repeated across pairs.
"""

from __future__ import annotations

from quilt.ids import pair_id
from quilt.records import PairRecord
from quilt.stages.types import ScoredChunk, Sentence

ALIGNER_NAME = "interval-aligner-v1"


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return min(a_end, b_end) - max(a_start, b_start)


def _touches(sentence: Sentence, start: float, end: float) -> bool:
    """Positive overlap; a zero-length sentence counts when it lies inside the window."""
    if sentence.end <= sentence.start:
        return start <= sentence.start <= end
    return _overlap(sentence.start, sentence.end, start, end) > 0


def assign_sentences(chunks: list[ScoredChunk], sentences: list[Sentence],
                     pad_s: float = 1.0) -> dict[int, list[Sentence]]:
    """Medical sentences per chunk index (chunks as given, in time order).

    A sentence that touches several padded windows goes to the chunk it overlaps
    most: first by overlap with the unpadded chunk, then with the padded window,
    ties to the earlier chunk.
    """
    assigned: dict[int, list[Sentence]] = {}
    for sentence in sorted(sentences, key=lambda s: (s.start, s.end, s.text)):
        if not sentence.medical or not sentence.text.strip():
            continue
        best: tuple[float, float] | None = None
        best_index = -1
        for index, chunk in enumerate(chunks):
            lo, hi = chunk.t_start - pad_s, chunk.t_end + pad_s
            if not _touches(sentence, lo, hi):
                continue
            rank = (_overlap(sentence.start, sentence.end, chunk.t_start, chunk.t_end),
                    _overlap(sentence.start, sentence.end, lo, hi))
            if best is None or rank > best:  # strict: an equal rank keeps the earlier chunk
                best, best_index = rank, index
        if best_index >= 0:
            assigned.setdefault(best_index, []).append(sentence)
    return assigned


def align(video_id: str, source: str, chunks: list[ScoredChunk], sentences: list[Sentence],
          models: dict[str, str], created_at: str, pad_s: float = 1.0) -> list[PairRecord]:
    """One pair per kept chunk that has medical speech around it, ordered by time."""
    # Only kept chunks compete for sentences: a rejected image must not swallow text.
    kept = sorted((c for c in chunks if c.keep), key=lambda c: (c.t_start, c.t_end, c.chunk_id))
    assigned = assign_sentences(kept, sentences, pad_s)
    pairs: list[PairRecord] = []
    for index, chunk in enumerate(kept):
        group = assigned.get(index, [])
        text = " ".join(s.text.strip() for s in group).strip()
        if not text:
            continue
        pairs.append(PairRecord(
            pair_id=pair_id(video_id, chunk.t_start, chunk.t_end, text),
            video_id=video_id,
            source=source,
            image=chunk.image_ref,
            t_start=chunk.t_start,
            t_end=chunk.t_end,
            text=text,
            asr_text=" ".join(s.asr_text.strip() for s in group).strip(),
            histo_score=chunk.histo_score,
            models=dict(models),
            created_at=created_at,
        ))
    return pairs
