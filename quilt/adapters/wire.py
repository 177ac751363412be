"""Conversions between the stage dataclasses and the protobuf wire messages."""

from __future__ import annotations

from quilt.core.records import PairRecord
from quilt.core.types import ScoredChunk, Segment, Sentence, SoftBreak, Word
from quiltpb.v1 import messages_pb2 as pb


def segments_to_pb(segments: list[Segment]) -> list[pb.Segment]:
    return [
        pb.Segment(start=s.start, end=s.end, text=s.text,
                   words=[pb.Word(text=w.text, start=w.start, end=w.end, probability=w.probability)
                          for w in s.words], cut=s.cut)
        for s in segments
    ]


def segments_from_pb(segments: list[pb.Segment]) -> list[Segment]:
    return [
        Segment(start=s.start, end=s.end, text=s.text,
                words=[Word(text=w.text, start=w.start, end=w.end, probability=w.probability) for w in s.words],
                cut=s.cut)
        for s in segments
    ]


def sentences_to_pb(sentences: list[Sentence]) -> list[pb.Sentence]:
    return [
        pb.Sentence(start=s.start, end=s.end, text=s.text, asr_text=s.asr_text, medical=s.medical,
                    corrections=dict(s.corrections), correction_scores=dict(s.correction_scores),
                    entities=[pb.Entity(text=text, category=category) for text, category in s.entities],
                    breaks=[pb.SoftBreak(start=b.start, end=b.end, text_offset=b.text_offset, asr_offset=b.asr_offset,
                                         medical_before=b.medical_before, medical_after=b.medical_after)
                            for b in s.breaks])
        for s in sentences
    ]


def sentences_from_pb(sentences: list[pb.Sentence]) -> list[Sentence]:
    return [
        Sentence(start=s.start, end=s.end, text=s.text, asr_text=s.asr_text, medical=s.medical,
                 corrections=dict(s.corrections), correction_scores=dict(s.correction_scores),
                 entities=[(e.text, e.category) for e in s.entities],
                 breaks=[SoftBreak(start=b.start, end=b.end, text_offset=b.text_offset, asr_offset=b.asr_offset,
                                   medical_before=b.medical_before, medical_after=b.medical_after)
                         for b in s.breaks])
        for s in sentences
    ]


def scored_from_pb(chunks: list[pb.ScoredChunk]) -> list[ScoredChunk]:
    """One ScoredChunk per interval: a slide shown twice is one image paired with each showing's speech.

    Chunks flagged as another video's image come through too (keep False, duplicate_of set): the
    aligner needs them to know what was on screen while a sentence was said.
    """
    return [
        ScoredChunk(chunk_id=c.chunk.chunk_id, t_start=start, t_end=end, image_ref=c.chunk.image_key,
                    histo_score=c.histo_score, keep=c.keep, phash=c.chunk.phash,
                    impurity_tags=list(c.impurity_tags), crop=crop_of(c),
                    magnification=c.magnification or "unknown", duplicate_of=c.chunk.duplicate_of,
                    screen_text=c.chunk.screen_text, region_of=c.region_of)
        for c in chunks
        for start, end in intervals_of(c.chunk)
    ]


def crop_of(chunk: pb.ScoredChunk) -> list[int]:
    """[x0, y0, x1, y1] of the field of view, or [] when the whole frame is tissue (crop unset)."""
    if not chunk.HasField("crop"):
        return []
    return [chunk.crop.x0, chunk.crop.y0, chunk.crop.x1, chunk.crop.y1]


def intervals_of(chunk: pb.FrameChunk) -> list[tuple[float, float]]:
    return [(i.t_start, i.t_end) for i in chunk.intervals] or [(chunk.t_start, chunk.t_end)]


def pair_to_pb(record: PairRecord) -> pb.Pair:
    data = record.to_dict()
    data["models"] = dict(record.models)
    data["corrections"] = dict(record.corrections)
    data["entities"] = [pb.Entity(text=e.get("text", ""), category=e.get("category", "")) for e in record.entities]
    return pb.Pair(**data)


def pair_from_pb(message: pb.Pair) -> PairRecord:
    return PairRecord(
        pair_id=message.pair_id, video_id=message.video_id, source=message.source, image=message.image,
        t_start=message.t_start, t_end=message.t_end, text=message.text, asr_text=message.asr_text,
        histo_score=message.histo_score, models=dict(message.models), created_at=message.created_at,
        image_id=message.image_id, align_score=message.align_score, corrections=dict(message.corrections),
        entities=[{"text": e.text, "category": e.category} for e in message.entities],
        impurity_tags=list(message.impurity_tags), crop=list(message.crop),
        magnification=message.magnification or "unknown", sub_pathology=list(message.sub_pathology),
        screen_text=message.screen_text,
    )
