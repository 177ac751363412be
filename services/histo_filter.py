"""Histology filter: every frame chunk scored by the classifier served from Triton.

Before scoring, a frame whose tissue sits inside UI chrome is cropped to the
microscope field of view (the crop is stored next to the frame and becomes the
pair's image), and its impurities are tagged: persons, chrome, text, arrows,
multi-panel figures. Kept chunks also get a magnification class (low, medium, high).
Every other clear histology picture of a frame (a second panel or micrograph) is cropped, stored
next to the frame and sent as an entry of its own (`region_of` names the frame's chunk).
A chunk the decoder flagged as another video's image (`duplicate_of`) is scored on that
video's JPEG; one without an image key passes through unscored as keep=False, so the aligner
still sees it.
"""

from __future__ import annotations

from google.protobuf.message import Message

from quilt.adapters.stage_params import histo_params
from quilt.core import keys, topics
from quilt.core.ids import region_chunk_id
from quilt.core.imaging import decode_jpeg, encode_jpeg
from quilt.stages.histo import FrameVerdict, TritonHistoScorer, filter_frames
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def setup(ctx: Context) -> None:
    ctx.clients["scorer"] = TritonHistoScorer(ctx.settings.triton)


def region_entries(ctx: Context, chunk: pb.FrameChunk, verdict: FrameVerdict) -> list[pb.ScoredChunk]:
    """The frame's other histology pictures, each cropped and stored next to the frame, as entries of their own."""
    out = []
    for number, other in enumerate(verdict.others, start=1):
        assert other.view.crop is not None
        copy = pb.FrameChunk()
        copy.CopyFrom(chunk)
        copy.chunk_id = region_chunk_id(chunk.chunk_id, number)
        copy.image_key = keys.region_crop_key(chunk.image_key, number)
        copy.phash = ""  # a picture of its own: never a near-duplicate of its frame's other pictures
        ctx.store.put_bytes(copy.image_key, encode_jpeg(other.view.image), "image/jpeg")
        x0, y0, x1, y1 = other.view.crop
        out.append(pb.ScoredChunk(chunk=copy, histo_score=other.score, keep=True, impurity_tags=other.view.tags,
                                  crop=pb.CropBox(x0=x0, y0=y0, x1=x1, y1=y1), magnification=other.magnification,
                                  region_of=chunk.chunk_id))
    return out


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.DecodedMedia)
    scorer: TritonHistoScorer = ctx.clients["scorer"]
    params = histo_params(ctx.settings)
    # A chunk with nothing to fetch passes through unscored, never kept, in its place.
    scored = [pb.ScoredChunk(chunk=c, histo_score=0.0, keep=False, magnification="unknown") for c in message.chunks]
    fresh = [i for i, c in enumerate(message.chunks) if c.image_key]
    regions: list[pb.ScoredChunk] = []
    verdicts = filter_frames([decode_jpeg(ctx.store.get_bytes(message.chunks[i].image_key)) for i in fresh],
                             scorer, params)
    for i, verdict in zip(fresh, verdicts, strict=True):
        entry, view = scored[i], verdict.view
        if view.crop is not None:  # the output's chunk is a copy: the crop's key goes on it only
            entry.chunk.image_key = keys.fov_crop_key(entry.chunk.image_key)
            ctx.store.put_bytes(entry.chunk.image_key, encode_jpeg(view.image), "image/jpeg")
            entry.crop.CopyFrom(pb.CropBox(x0=view.crop[0], y0=view.crop[1], x1=view.crop[2], y1=view.crop[3]))
        entry.histo_score, entry.keep = verdict.score, verdict.keep
        entry.impurity_tags.extend(view.tags)
        entry.magnification = verdict.magnification
        if not message.chunks[i].duplicate_of:  # another video's image had its pictures cropped by that video
            regions += region_entries(ctx, message.chunks[i], verdict)
    scored += regions
    out = pb.FilteredFrames(video_id=message.video_id, source=message.source, chunks=scored,
                            model=scorer.name, threshold=params.threshold)
    return Result(outputs=[Output(topics.FILTERED, message.video_id, out)],
                  detail={"chunks": len(fresh), "kept": sum(c.keep for c in scored),
                          "duplicates": sum(bool(c.duplicate_of) for c in message.chunks),
                          "cropped": sum(v.view.crop is not None for v in verdicts),
                          "more_pictures": len(regions),
                          "tagged": sum(bool(v.view.tags) for v in verdicts)})


SPEC = ServiceSpec(name="histo_filter", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
