"""End a sentence at a pause where the picture changed: the full stop Whisper left out.

Whisper tiny now and then runs two sentences into one, most often across a slide change
("At the conference last year, a lymphocytic infiltrate effaces ..."), and the aligner, which
never cuts a sentence, then pairs both halves with one picture. The denoiser keeps every
unpunctuated pause inside a sentence as a SoftBreak; here a pause counts as the sentence's end
when a picture change (shifted by the narrator's lag, like the windows the sentences are
assigned to) falls in it. A pause without a change is a breath and is left alone, so sentences
that stay on one picture are never touched. Only one cut per sentence, at the pause that fits
its change best: the denoiser worked out each side's text and medical flag for one cut alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from quilt.core.types import Sentence, SoftBreak


def _distance(brk: SoftBreak, change: float) -> float:
    """0 when the change lies inside the pause, else how far outside it."""
    return max(brk.start - change, change - brk.end, 0.0)


def _side(sentence: Sentence, text: str, asr_text: str, medical: bool, start: float, end: float) -> Sentence:
    lowered = text.lower()
    kept = {heard: written for heard, written in sentence.corrections.items() if written.lower() in lowered}
    return Sentence(start=start, end=end, text=text, asr_text=asr_text, medical=medical, corrections=kept,
                    correction_scores={k: v for k, v in sentence.correction_scores.items() if k in kept},
                    entities=[e for e in sentence.entities if medical and e[0].lower() in lowered])


def cut_at(sentence: Sentence, brk: SoftBreak) -> tuple[Sentence, Sentence]:
    """The two sentences either side of one of `sentence`'s soft breaks."""
    first = _side(sentence, sentence.text[:brk.text_offset].rstrip(), sentence.asr_text[:brk.asr_offset].rstrip(),
                  brk.medical_before, sentence.start, brk.start)
    second = _side(sentence, sentence.text[brk.text_offset:].lstrip(), sentence.asr_text[brk.asr_offset:].lstrip(),
                   brk.medical_after, brk.end, sentence.end)
    return first, second


def split_at_changes(sentences: Iterable[Sentence], changes: Iterable[float], tolerance_s: float = 0.6,
                     min_words: int = 2) -> tuple[list[Sentence], int]:
    """The sentences with each one cut at the soft break a picture change falls in; and how many were cut.

    `changes` are the times the picture changed, already shifted by the narrator's lag. A change
    within `tolerance_s` of a pause counts (Whisper's word times are a few tenths of a second
    loose, and the decoder's change times up to a sampling step late). Both sides must keep at
    least `min_words` words: a lone word is more likely a stumble than a sentence. A negative
    tolerance turns cutting off.
    """
    moments = sorted(set(changes))
    out: list[Sentence] = []
    cut = 0
    for sentence in sentences:
        best: tuple[float, float, SoftBreak] | None = None
        if tolerance_s >= 0:
            for brk in sentence.breaks:
                if (len(sentence.text[:brk.text_offset].split()) < min_words
                        or len(sentence.text[brk.text_offset:].split()) < min_words):
                    continue
                near = [_distance(brk, c) for c in moments if brk.start - tolerance_s <= c <= brk.end + tolerance_s]
                if near:
                    key = (min(near), -(brk.end - brk.start), brk)  # the closest change, then the longer pause
                    if best is None or key[:2] < best[:2]:
                        best = key
        if best is None:
            out.append(sentence)
            continue
        out.extend(cut_at(sentence, best[2]))
        cut += 1
    return out, cut
