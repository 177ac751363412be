"""Score decoded key frames (FrameChunks) against a lecture's ground-truth segments.

A truth segment is `(t_start, t_end, kind, still, repeat_of)`:
  kind       free text ("histology", "pan", "zoom", "fade", "presenter", ...), for reports;
  still      True for a still picture (slides, with or without pointer/annotation), which
             should yield exactly one key frame; False for motion (pans, zooms, fades,
             presenter camera), which should yield none;
  repeat_of  index of an earlier segment showing the same picture, or None.

A key frame is one interval of a chunk (`FrameChunk.spans()`); it lands in the segment that
overlaps it by >= 50% of the interval's own length (at most one segment can).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quilt.core.types import FrameChunk

TruthSegment = tuple[float, float, str, bool, int | None]

MIN_STILL_S = 3.0  # Quilt's minimum stable duration: shorter stills are not expected to yield a key frame


@dataclass
class KeyframeScores:
    still_segments: int  # still segments >= MIN_STILL_S
    one_keyframe: int  # ...of which got exactly one key frame
    keyframes: int  # chunks
    duplicates: int  # chunks depicting a picture an earlier chunk already covers
    in_motion: int  # key frames (intervals) inside fades, pans, zooms or presenter segments
    unmatched: int  # key frames that overlap no single segment by >= 50% (straddling a boundary)
    missed: list[int] = field(default_factory=list)  # indices of still segments without exactly one key frame

    @property
    def one_keyframe_rate(self) -> float:
        return self.one_keyframe / self.still_segments if self.still_segments else 1.0

    @property
    def duplicate_fraction(self) -> float:
        return self.duplicates / self.keyframes if self.keyframes else 0.0

    def add(self, other: KeyframeScores) -> KeyframeScores:
        """Pool two lectures' scores (missed indices are not comparable across lectures, so dropped)."""
        return KeyframeScores(self.still_segments + other.still_segments, self.one_keyframe + other.one_keyframe,
                              self.keyframes + other.keyframes, self.duplicates + other.duplicates,
                              self.in_motion + other.in_motion, self.unmatched + other.unmatched)


def _segment_of(start: float, end: float, segments: list[TruthSegment]) -> int | None:
    length = max(end - start, 1e-9)
    for index, (s_start, s_end, *_rest) in enumerate(segments):
        if min(end, s_end) - max(start, s_start) >= 0.5 * length:
            return index
    return None


def _root(index: int, segments: list[TruthSegment]) -> int:
    """The first showing of a picture, following repeat_of links (guarding against cycles)."""
    seen = {index}
    while (parent := segments[index][4]) is not None and parent not in seen:
        seen.add(parent)
        index = parent
    return index


def evaluate(chunks: list[FrameChunk], truth_segments: list[TruthSegment]) -> KeyframeScores:
    """Score `chunks` against `truth_segments` (see the module docstring for both)."""
    hits = [0] * len(truth_segments)
    covered: set[int] = set()
    duplicates = in_motion = unmatched = 0
    for chunk in sorted(chunks, key=lambda c: c.t_start):
        pictures: set[int] = set()
        for start, end in chunk.spans():
            index = _segment_of(start, end, truth_segments)
            if index is None:
                unmatched += 1
                continue
            hits[index] += 1
            if truth_segments[index][3]:
                pictures.add(_root(index, truth_segments))
            else:
                in_motion += 1
        # One chunk with two intervals for a slide shown twice is the wanted outcome; a second
        # chunk for an already covered picture (even a repeat showing) is a duplicate.
        if pictures & covered:
            duplicates += 1
        covered |= pictures
    eligible = [i for i, seg in enumerate(truth_segments) if seg[3] and seg[1] - seg[0] >= MIN_STILL_S]
    missed = [i for i in eligible if hits[i] != 1]
    return KeyframeScores(still_segments=len(eligible), one_keyframe=len(eligible) - len(missed),
                          keyframes=len(chunks), duplicates=duplicates, in_motion=in_motion,
                          unmatched=unmatched, missed=missed)


# Per nuisance kind: the share of histology segments given a key frame (issue 16, acceptance 2).
# A labelled segment is `(t_start, t_end, nuisance)`, where nuisance is None for segments that are
# not histology expected to give a picture; the list parallels a lecture's truth segments.
LabelledSegment = tuple[float, float, str | None]


@dataclass
class KindCoverage:
    """Histology segments per nuisance kind, and how many got at least one key frame."""

    segments: dict[str, int] = field(default_factory=dict)
    covered: dict[str, int] = field(default_factory=dict)

    def share(self, kind: str | None = None) -> float:
        """Covered share of one kind, or of all kinds pooled when `kind` is None (1.0 with nothing to cover)."""
        total = sum(self.segments.values()) if kind is None else self.segments.get(kind, 0)
        hit = sum(self.covered.values()) if kind is None else self.covered.get(kind, 0)
        return hit / total if total else 1.0

    @property
    def total(self) -> int:
        return sum(self.segments.values())

    def add(self, other: KindCoverage) -> KindCoverage:
        kinds = set(self.segments) | set(other.segments)
        return KindCoverage({k: self.segments.get(k, 0) + other.segments.get(k, 0) for k in kinds},
                            {k: self.covered.get(k, 0) + other.covered.get(k, 0) for k in kinds})


def histology_coverage(spans: list[tuple[float, float]], labelled: list[LabelledSegment]) -> KindCoverage:
    """Which labelled histology segments (>= MIN_STILL_S) at least one key-frame interval lands in.

    `spans` are key-frame intervals (a chunk's `spans()`, or a reference chunk's start and end); an
    interval lands in the segment covering >= 50% of it, as in `evaluate`.
    """
    as_truth: list[TruthSegment] = [(start, end, kind or "", True, None) for start, end, kind in labelled]
    landed = {index for start, end in spans if (index := _segment_of(start, end, as_truth)) is not None}
    coverage = KindCoverage()
    for index, (start, end, kind) in enumerate(labelled):
        if kind is None or end - start < MIN_STILL_S:
            continue
        coverage.segments[kind] = coverage.segments.get(kind, 0) + 1
        coverage.covered[kind] = coverage.covered.get(kind, 0) + (index in landed)
    return coverage
