"""Score pairs against lectures whose truth is known (pure: no files are read here).

A truth file describes one lecture: its file name, sha256, duration and time-ordered segments
`{t_start, t_end, kind, histology, medical, narration, terms, repeat_of}`. A pair belongs to a
lecture when its `source` is that lecture's video path, its `video_id` is the id `quilt process`
gives that path, or, failing both, its source's file name is the lecture's and no other truth
has that name. Pairs of no lecture are counted as `unmatched` and left out of every metric.

Per pair, two things are looked up:
  image segment  the segment covering at least half of the pair's interval (at most one can);
                 none when the interval straddles a boundary;
  attribution    which narration each of the text's content words comes from. Content words are
                 lower-cased, plurals folded, function words dropped; a word comes from a segment
                 when its narration has the same word, a near spelling of it (ratio >= FUZZY_RATIO)
                 or a word containing it or contained in it (both of 4+ letters), so ASR
                 misspellings and split words still point at the right slide. Words no
                 narration explains (ASR garble) point nowhere and are ignored. The picture's share
                 is the part of the explained words that the narration of the image's picture
                 (its segment or another showing of it, `repeat_of`) explains.

The metrics (pooled over all lectures, and per lecture):
  precision  correct pairs / pairs. Correct: the image segment is histology, the picture's
             narration explains at least MIN_EXPLAINED of the text's content words (and at least
             one) and its share of the explained words is at least MIN_SHARE: a text glued
             together from this slide and an equal part of another falls below it. Garbled but
             rightly paired text stays correct; term_acc is what scores the words themselves.
  recall     expected segments credited with a correct pair / expected segments. Expected:
             histology with medical narration. A correct pair credits the showing of its picture
             that explains most of its words (ties: the image segment).
  leakage    pairs whose image segment is not histology / pairs, whatever their text.
  term_acc   truth terms of recalled segments found in the joined text of their correct
             pairs / those terms. Found: the term's words appear in a row in the text, both
             lower-cased with plurals folded and letters split from digits ("TTF1" is "TTF-1");
             no fuzzy matching (spelling is what it scores).
  dup        pairs that near-duplicate an earlier scored pair (of any lecture): image
             phash within DUP_MAX_HAMMING bits (the decoder's own same-slide distance) AND
             text content words with Jaccard >= DUP_MIN_JACCARD / pairs. A pair whose image
             could not be hashed is compared by its image_id instead.
With no pairs, precision is 1 and leakage and dup 0 (nothing wrong was written); with nothing
expected, recall is 1; with no terms to find, term_acc is 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from difflib import SequenceMatcher
from typing import Any

from quilt.core.boxes import Box, box_iou
from quilt.core.imaging import hamming
from quilt.stages.common.words import singular

MIN_SHARE = 0.6
MIN_EXPLAINED = 0.25
FUZZY_RATIO = 0.8
DUP_MAX_HAMMING = 6
DUP_MIN_JACCARD = 0.8
HALF = 0.5  # share of a pair's interval that must lie in one segment
# Letters and digits apart, so "TTF-1", "TTF1" and "TTF 1" (or "CD34", "CD 34") are the same words.
_TOKEN = re.compile(r"[a-z]+|[0-9]+")

# Function words: every English sentence has them, so they would make any two texts look related.
STOPWORDS = frozenset(
    "a an the and or but of in on at to for from with by as is are was were be been being this that these "
    "those there here it its we you i they he she our your their my me us them so then than very also into "
    "onto over under about around between within while where which who whom what when how not no all any "
    "some each every most more many much one two can could will would should may might do does did has have "
    "had just like let see now okay ok right well".split())


class TruthError(ValueError):
    """A truth file that cannot be used, with a message that says why."""


@dataclass(frozen=True)
class Segment:
    t_start: float
    t_end: float
    kind: str
    histology: bool
    medical: bool
    narration: str
    terms: tuple[str, ...] = ()
    repeat_of: int | None = None
    # Where the segment's micrographs sit in the frame (x0, y0, x1, y1), when the truth says; () = not said.
    picture_boxes: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def expected(self) -> bool:
        """A segment the pipeline should give a pair for: histology narrated in medical words."""
        return self.histology and self.medical and bool(self.narration.strip())


@dataclass(frozen=True)
class Lecture:
    name: str  # the video's file name
    sha256: str
    duration_s: float
    segments: tuple[Segment, ...]
    video_path: str = ""  # absolute path where the video is expected (next to the truth file)
    video_id: str = ""  # the id `quilt process` gives a file at video_path
    size: tuple[int, int] | None = None  # frame width and height, when the truth says


@dataclass(frozen=True)
class EvalPair:
    pair_id: str
    video_id: str
    source: str
    t_start: float
    t_end: float
    text: str
    image_id: str = ""
    phash: str = ""  # of the pair's image file; "" when it could not be read
    crop: tuple[int, ...] = ()  # the pair's image box in the frame; () = the whole frame


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in data:
        raise TruthError(f"{where}: missing {name!r}")
    value = data[name]
    # bool is an int to isinstance; a number field holding true/false is a mistake all the same.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TruthError(f"{where}: {name!r} has the wrong type ({type(value).__name__})")
    return value


def lecture_from_dict(data: Any, video_path: str = "", video_id: str = "") -> Lecture:
    """Validate a parsed truth file; raises TruthError naming the first problem."""
    if not isinstance(data, dict):
        raise TruthError("truth must be a JSON object")
    name = _field(data, "file", str, "truth")
    segments: list[Segment] = []
    raw_segments = _field(data, "segments", list, "truth")
    for i, raw in enumerate(raw_segments):
        where = f"segment {i}"
        if not isinstance(raw, dict):
            raise TruthError(f"{where}: must be an object")
        start = float(_field(raw, "t_start", (int, float), where))
        end = float(_field(raw, "t_end", (int, float), where))
        if end <= start:
            raise TruthError(f"{where}: t_end {end} is not after t_start {start}")
        terms = _field(raw, "terms", list, where) if "terms" in raw else []
        repeat_of = raw.get("repeat_of")
        if repeat_of is not None and (not isinstance(repeat_of, int) or not 0 <= repeat_of < i):
            raise TruthError(f"{where}: repeat_of must name an earlier segment")
        segments.append(Segment(start, end, str(raw.get("kind", "")), bool(_field(raw, "histology", bool, where)),
                                bool(raw.get("medical", bool(terms))), str(raw.get("narration", "")),
                                tuple(str(t) for t in terms), repeat_of, _boxes(raw.get("picture_boxes"), where)))
    size: Any = data.get("size")
    frame = (int(size[0]), int(size[1])) if _is_box_like(size, 2) else None
    return Lecture(name, str(data.get("sha256", "")), float(data.get("duration_s", 0.0)), tuple(segments),
                   video_path, video_id, frame)


def _is_box_like(value: Any, n: int) -> bool:
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))


def _boxes(raw: Any, where: str) -> tuple[tuple[int, int, int, int], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(_is_box_like(b, 4) for b in raw):
        raise TruthError(f"{where}: picture_boxes must be a list of [x0, y0, x1, y1]")
    return tuple((int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in raw)


PICTURE_MIN_IOU = 0.5  # a pair's image shows the segment's picture when its box overlaps one this much


def pictures_shown(pair: EvalPair, segment: Segment, size: tuple[int, int] | None) -> set[int] | None:
    """Which of the segment's pictures the pair's image is (its crop, or the whole frame, overlapping the
    truth box by PICTURE_MIN_IOU); None when the truth gives no boxes or frame size to check against."""
    if not segment.picture_boxes or size is None:
        return None
    c = pair.crop
    box: Box = (c[0], c[1], c[2], c[3]) if len(c) == 4 else (0, 0, size[0], size[1])
    return {k for k, truth in enumerate(segment.picture_boxes) if box_iou(box, truth) >= PICTURE_MIN_IOU}


def content_words(text: str) -> list[str]:
    """Lower-case words and numbers (split apart), plurals folded, function words dropped."""
    return [singular(w) for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]


def _near(word: str, vocabulary: set[str]) -> bool:
    """The same word, a near spelling, or a piece of it: Whisper splits words ("high light", "the mucus to
    chemistry") as often as it misspells them."""
    if word in vocabulary:
        return True
    if len(word) < 4:
        return False
    for known in vocabulary:
        if len(known) < 4:
            continue
        if word in known or known in word or SequenceMatcher(None, word, known).ratio() >= FUZZY_RATIO:
            return True
    return False


def term_found(term: str, text: str) -> bool:
    """The term's words appear in a row in the text (lower case, plurals folded, stopwords kept)."""
    needle = [singular(w) for w in _TOKEN.findall(term.lower())]
    hay = [singular(w) for w in _TOKEN.findall(text.lower())]
    if not needle:
        return True
    return any(hay[i:i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


def image_segment(t_start: float, t_end: float, segments: tuple[Segment, ...]) -> int | None:
    length = max(t_end - t_start, 1e-9)
    for index, seg in enumerate(segments):
        if min(t_end, seg.t_end) - max(t_start, seg.t_start) >= HALF * length:
            return index
    return None


def picture_of(index: int, segments: tuple[Segment, ...]) -> int:
    """The first showing of a segment's picture, following repeat_of links."""
    seen = {index}
    while (parent := segments[index].repeat_of) is not None and parent not in seen:
        seen.add(parent)
        index = parent
    return index


@dataclass(frozen=True)
class Attribution:
    words: int  # content words in the text
    explained: int  # ...that some segment's narration explains
    own: int  # ...that the narration of the image's picture explains
    credited: int | None  # the showing of the picture explaining most words (None: no picture)
    best: int | None  # the segment explaining most words, whichever it is (for reports)

    @property
    def share(self) -> float:
        return self.own / self.explained if self.explained else 0.0

    @property
    def from_picture(self) -> bool:
        return self.own >= max(1.0, MIN_EXPLAINED * self.words) and self.share >= MIN_SHARE


def attribute(text: str, segments: tuple[Segment, ...], image: int | None) -> Attribution:
    """Where the text's content words come from (see the module docstring)."""
    words = content_words(text)
    vocabularies = [set(content_words(seg.narration)) for seg in segments]
    sources = [{i for i, vocab in enumerate(vocabularies) if _near(w, vocab)} for w in words]
    per_segment = [sum(i in found for found in sources) for i in range(len(segments))]
    picture = picture_of(image, segments) if image is not None else None
    showings = {i for i in range(len(segments)) if picture is not None and picture_of(i, segments) == picture}
    best = max(range(len(segments)), key=lambda i: (per_segment[i], i == image, -i), default=None)
    credited = max(showings, key=lambda i: (per_segment[i], i == image, -i), default=None)
    return Attribution(words=len(words), explained=sum(bool(found) for found in sources),
                       own=sum(bool(found & showings) for found in sources), credited=credited,
                       best=best if best is not None and per_segment[best] else None)


def near_duplicate(a: EvalPair, b: EvalPair) -> bool:
    if a.phash and b.phash:
        same_image = hamming(a.phash, b.phash) <= DUP_MAX_HAMMING
    else:
        same_image = bool(a.image_id) and a.image_id == b.image_id
    if not same_image:
        return False
    wa, wb = set(content_words(a.text)), set(content_words(b.text))
    if not wa and not wb:
        return True
    return len(wa & wb) / len(wa | wb) >= DUP_MIN_JACCARD


@dataclass
class Verdict:
    """What the harness decided about one pair (for reports and for finding causes)."""

    pair_id: str
    lecture: str  # "" when unmatched
    outcome: str  # correct | leaked | wrong_text | straddling | unmatched
    image_segment: int | None = None
    text_segment: int | None = None  # the segment explaining most of the text's words
    share: float = 0.0  # of the explained words, the part the image's picture explains
    duplicate: bool = False


@dataclass
class Scores:
    pairs: int = 0
    correct: int = 0
    leaked: int = 0
    wrong_text: int = 0  # image in a histology segment, text from elsewhere (or unrecognisable)
    straddling: int = 0  # interval across a boundary: no image segment
    duplicates: int = 0
    expected: int = 0
    recalled: int = 0
    terms: int = 0
    terms_found: int = 0
    pictured: int = 0  # correct pairs whose segment's truth gives picture boxes
    picture_match: int = 0  # ...and whose image is one of those pictures (its crop, or the whole frame)
    pictures: int = 0  # pictures of expected segments (truth boxes)
    pictures_paired: int = 0  # ...that some correct pair's image shows

    def add(self, other: Scores) -> Scores:
        return Scores(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def precision(self) -> float:
        return self.correct / self.pairs if self.pairs else 1.0

    @property
    def recall(self) -> float:
        return self.recalled / self.expected if self.expected else 1.0

    @property
    def leakage(self) -> float:
        return self.leaked / self.pairs if self.pairs else 0.0

    @property
    def term_acc(self) -> float:
        return self.terms_found / self.terms if self.terms else 1.0

    @property
    def dup(self) -> float:
        return self.duplicates / self.pairs if self.pairs else 0.0

    def line(self) -> str:
        return (f"eval: precision={self.precision:.3f} recall={self.recall:.3f} leakage={self.leakage:.3f} "
                f"term_acc={self.term_acc:.3f} dup={self.dup:.3f}")

    def picture_line(self) -> str:
        """How well the pairs' images match the pictures on screen (only where the truth gives boxes)."""
        match = self.picture_match / self.pictured if self.pictured else 1.0
        covered = self.pictures_paired / self.pictures if self.pictures else 1.0
        return (f"eval-pictures: checked={self.pictured} image_matches_picture={match:.3f} "
                f"pictures={self.pictures} pictures_paired={covered:.3f}")


@dataclass
class LectureReport:
    lecture: Lecture
    scores: Scores
    missed: list[int] = field(default_factory=list)  # expected segments without a correct pair
    missing_terms: dict[int, list[str]] = field(default_factory=dict)  # per recalled segment


@dataclass
class EvalReport:
    lectures: list[LectureReport]
    total: Scores
    verdicts: list[Verdict]
    unmatched_pairs: int = 0
    unmatched_videos: list[str] = field(default_factory=list)


def _basename(source: str) -> str:
    return re.split(r"[\\/]", source.rstrip("/"))[-1]


def lecture_of(pair: EvalPair, lectures: list[Lecture]) -> int | None:
    """Index of the pair's lecture (see the module docstring for the rule), or None."""
    for index, lec in enumerate(lectures):
        if (lec.video_path and pair.source == lec.video_path) or (lec.video_id and pair.video_id == lec.video_id):
            return index
    by_name = [i for i, lec in enumerate(lectures) if lec.name == _basename(pair.source)]
    return by_name[0] if len(by_name) == 1 else None


def _judge(pair: EvalPair, lec: Lecture) -> tuple[Verdict, int | None]:
    """The pair's verdict, and the segment a correct pair credits."""
    image = image_segment(pair.t_start, pair.t_end, lec.segments)
    found = attribute(pair.text, lec.segments, image)
    verdict = Verdict(pair.pair_id, lec.name, "straddling", image, found.best, found.share)
    if image is None:
        return verdict, None
    if not lec.segments[image].histology:
        verdict.outcome = "leaked"
        return verdict, None
    verdict.outcome = "correct" if found.from_picture else "wrong_text"
    return verdict, found.credited if found.from_picture else None


def evaluate(pairs: Iterable[EvalPair], lectures: list[Lecture]) -> EvalReport:
    """Score the pairs (in file order, which decides which of two duplicates is the later) against the lectures."""
    per_lecture = [Scores() for _ in lectures]
    texts: list[dict[int, list[str]]] = [{} for _ in lectures]  # per lecture: credited segment -> texts
    shown: list[dict[int, set[int]]] = [{} for _ in lectures]  # per lecture: credited segment -> pictures paired
    verdicts: list[Verdict] = []
    earlier: list[EvalPair] = []
    unmatched_videos: list[str] = []
    for pair in pairs:
        index = lecture_of(pair, lectures)
        if index is None:
            verdicts.append(Verdict(pair.pair_id, "", "unmatched"))
            if pair.video_id not in unmatched_videos:
                unmatched_videos.append(pair.video_id)
            continue
        verdict, credited = _judge(pair, lectures[index])
        verdict.duplicate = any(near_duplicate(other, pair) for other in earlier)
        earlier.append(pair)
        verdicts.append(verdict)
        scores = per_lecture[index]
        scores.pairs += 1
        scores.duplicates += verdict.duplicate
        if verdict.outcome == "correct" and credited is not None:
            scores.correct += 1
            texts[index].setdefault(credited, []).append(pair.text)
            lec = lectures[index]
            image_seg = verdict.image_segment if verdict.image_segment is not None else credited
            pictures = pictures_shown(pair, lec.segments[image_seg], lec.size)
            if pictures is not None:
                scores.pictured += 1
                scores.picture_match += bool(pictures)
                shown[index].setdefault(image_seg, set()).update(pictures)
        else:
            setattr(scores, verdict.outcome, getattr(scores, verdict.outcome) + 1)
    reports = []
    for lec, scores, by_source, pictured in zip(lectures, per_lecture, texts, shown, strict=True):
        report = LectureReport(lec, scores)
        for i, seg in enumerate(lec.segments):
            if not seg.expected:
                continue
            scores.expected += 1
            if lec.size is not None:
                scores.pictures += len(seg.picture_boxes)
                scores.pictures_paired += len(pictured.get(i, set()))
            if i not in by_source:
                report.missed.append(i)
                continue
            scores.recalled += 1
            joined = " ".join(by_source[i])
            missing = [t for t in seg.terms if not term_found(t, joined)]
            scores.terms += len(seg.terms)
            scores.terms_found += len(seg.terms) - len(missing)
            if missing:
                report.missing_terms[i] = missing
        reports.append(report)
    total = Scores()
    for scores in per_lecture:
        total = total.add(scores)
    unmatched = sum(v.outcome == "unmatched" for v in verdicts)
    return EvalReport(reports, total, verdicts, unmatched, unmatched_videos)
