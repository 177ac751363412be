"""Whisper's repetition loops: "and the blood of the body, and the blood of the body, ...".

Greedy decoding sometimes locks onto a phrase and repeats it to the end of the window. Whisper's
own guard is the zlib compression ratio of a segment's text (its reference decoder falls back to
sampling above 2.4); we use the same measure to send the window to a retry, and whatever loop
survives the retries is cut back to one copy of the phrase, so the loop neither floods a pair's
text nor hides the sentence boundaries after it.
"""

from __future__ import annotations

import zlib

from quilt.core.types import Segment, Word

MAX_COMPRESSION_RATIO = 2.4  # Whisper's compression_ratio_threshold
MIN_REPEATS = 3  # a phrase said three times running is a loop, not emphasis ("very, very")
MAX_PHRASE_WORDS = 8


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def looping(segments: list[Segment], max_ratio: float = MAX_COMPRESSION_RATIO) -> bool:
    """Whether any segment's text compresses like a loop."""
    return any(compression_ratio(s.text) > max_ratio for s in segments)


def _norm(word: Word) -> str:
    return "".join(ch for ch in word.text.lower() if ch.isalnum())


def drop_loops(words: list[Word], min_repeats: int = MIN_REPEATS,
               max_phrase: int = MAX_PHRASE_WORDS) -> list[Word]:
    """The words with every run of `min_repeats` or more back-to-back copies of a phrase cut to its first copy
    (which takes the punctuation of the last)."""
    keys = [_norm(w) for w in words]
    out: list[Word] = []
    i = 0
    while i < len(words):
        keep, span = 1, 1  # words to keep from i, and words to move past
        for n in range(1, max_phrase + 1):
            phrase = keys[i:i + n]
            if len(phrase) < n or not all(phrase):
                break
            copies = 1
            while keys[i + copies * n:i + (copies + 1) * n] == phrase:
                copies += 1
            if copies >= min_repeats:
                keep, span = n, copies * n
                break
        out.extend(words[i:i + keep])
        if span > keep:  # the copy kept ends as the loop did: "body." closes the sentence, "body," does not
            last, final = out[-1], words[i + span - 1]
            out[-1] = Word(final.text, last.start, last.end, last.probability)
        i += span
    return out
