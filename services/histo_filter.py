"""Histology filter: every frame chunk scored by the classifier served from Triton.

Before scoring, a frame whose tissue sits inside UI chrome is cropped to the
microscope field of view (the crop is stored next to the frame and becomes the
pair's image), and its impurities are tagged: persons, chrome, text, arrows,
multi-panel figures. Kept chunks also get a magnification class (low, medium, high).
"""

from __future__ import annotations

from google.protobuf.message import Message

from quilt import topics
from quilt.stages.frame_view import frame_view
from quilt.stages.histo import TritonHistoScorer
from quilt.stages.imaging import decode_jpeg, encode_jpeg
from quilt.stages.magnification import magnification_class
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def setup(ctx: Context) -> None:
    ctx.clients["scorer"] = TritonHistoScorer(ctx.settings.triton)


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.DecodedMedia)
    scorer: TritonHistoScorer = ctx.clients["scorer"]
    threshold = ctx.settings.histo_threshold
    views, chunks = [], []
    for chunk in message.chunks:
        view = frame_view(decode_jpeg(ctx.store.get_bytes(chunk.image_key)))
        shown = pb.FrameChunk()
        shown.CopyFrom(chunk)
        if view.crop is not None:
            shown.image_key = chunk.image_key.removesuffix(".jpg") + "-fov.jpg"
            ctx.store.put_bytes(shown.image_key, encode_jpeg(view.image), "image/jpeg")
        views.append(view)
        chunks.append(shown)
    scores = scorer.score([v.image for v in views]) if views else []
    scored = []
    for chunk, view, score in zip(chunks, views, scores, strict=True):
        crop = pb.CropBox(x0=view.crop[0], y0=view.crop[1], x1=view.crop[2], y1=view.crop[3]) if view.crop else None
        keep = score >= threshold
        # Estimated here, where the pixels are decoded anyway; only kept chunks become pairs, so only they pay.
        magnification = magnification_class(view.image) if keep else "unknown"
        scored.append(pb.ScoredChunk(chunk=chunk, histo_score=score, keep=keep, impurity_tags=view.tags, crop=crop,
                                     magnification=magnification))
    out = pb.FilteredFrames(video_id=message.video_id, source=message.source, chunks=scored,
                            model=scorer.name, threshold=threshold)
    return Result(outputs=[Output(topics.FILTERED, message.video_id, out)],
                  detail={"chunks": len(scored), "kept": sum(c.keep for c in scored),
                          "cropped": sum(v.crop is not None for v in views),
                          "tagged": sum(bool(v.tags) for v in views)})


SPEC = ServiceSpec(name="histo_filter", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
