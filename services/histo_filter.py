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
    # A chunk with nothing to fetch passes through unscored, never kept, in its place.
    scored = [pb.ScoredChunk(chunk=c, histo_score=0.0, keep=False, magnification="unknown") for c in message.chunks]
    fresh = [i for i, c in enumerate(message.chunks) if c.image_key]
    views = []
    for i in fresh:
        view = frame_view(decode_jpeg(ctx.store.get_bytes(message.chunks[i].image_key)))
        if view.crop is not None:  # the output's chunk is a copy: the crop's key goes on it only
            shown = scored[i].chunk
            shown.image_key = shown.image_key.removesuffix(".jpg") + "-fov.jpg"
            ctx.store.put_bytes(shown.image_key, encode_jpeg(view.image), "image/jpeg")
            scored[i].crop.CopyFrom(pb.CropBox(x0=view.crop[0], y0=view.crop[1], x1=view.crop[2], y1=view.crop[3]))
        views.append(view)
    scores = scorer.score([v.image for v in views]) if views else []
    for i, view, score in zip(fresh, views, scores, strict=True):
        entry = scored[i]
        entry.histo_score, entry.keep = score, score >= threshold
        entry.impurity_tags.extend(view.tags)
        # Estimated here, where the pixels are decoded anyway; only kept chunks become pairs, so only they pay.
        entry.magnification = magnification_class(view.image, histo_score=score) if entry.keep else "unknown"
    out = pb.FilteredFrames(video_id=message.video_id, source=message.source, chunks=scored,
                            model=scorer.name, threshold=threshold)
    return Result(outputs=[Output(topics.FILTERED, message.video_id, out)],
                  detail={"chunks": len(fresh), "kept": sum(c.keep for c in scored),
                          "duplicates": sum(bool(c.duplicate_of) for c in message.chunks),
                          "cropped": sum(v.crop is not None for v in views),
                          "tagged": sum(bool(v.tags) for v in views)})


SPEC = ServiceSpec(name="histo_filter", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
