"""Histology filter: every frame chunk scored by the classifier served from Triton.

Before scoring, a frame whose tissue sits inside UI chrome is cropped to the
microscope field of view (the crop is stored next to the frame and becomes the
pair's image), and its impurities are tagged: persons, chrome, text, arrows,
multi-panel figures. Kept chunks also get a magnification class (low, medium, high).
A chunk the decoder flagged as another video's image (`duplicate_of`) is scored on that
video's JPEG; one without an image key passes through unscored as keep=False, so the aligner
still sees it.
"""

from __future__ import annotations

from google.protobuf.message import Message

from quilt.adapters.stage_params import histo_params
from quilt.core import keys, topics
from quilt.core.imaging import decode_jpeg, encode_jpeg
from quilt.stages.histo import TritonHistoScorer, filter_frames
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def setup(ctx: Context) -> None:
    ctx.clients["scorer"] = TritonHistoScorer(ctx.settings.triton)


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.DecodedMedia)
    scorer: TritonHistoScorer = ctx.clients["scorer"]
    params = histo_params(ctx.settings)
    # A chunk with nothing to fetch passes through unscored, never kept, in its place.
    scored = [pb.ScoredChunk(chunk=c, histo_score=0.0, keep=False, magnification="unknown") for c in message.chunks]
    fresh = [i for i, c in enumerate(message.chunks) if c.image_key]
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
    out = pb.FilteredFrames(video_id=message.video_id, source=message.source, chunks=scored,
                            model=scorer.name, threshold=params.threshold)
    return Result(outputs=[Output(topics.FILTERED, message.video_id, out)],
                  detail={"chunks": len(fresh), "kept": sum(c.keep for c in scored),
                          "duplicates": sum(bool(c.duplicate_of) for c in message.chunks),
                          "cropped": sum(v.view.crop is not None for v in verdicts),
                          "tagged": sum(bool(v.view.tags) for v in verdicts)})


SPEC = ServiceSpec(name="histo_filter", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
