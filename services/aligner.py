"""Aligner: joins a video's denoised text and filtered frames into image-text pairs.

The two halves arrive on different topics in any order. Each half is parked in
the bucket under a deterministic key; whichever arrives second completes the
join. Both inputs share one agent, so the two halves of a video are never
handled at the same time. Every chunk of FilteredFrames goes to the aligner, rejected ones
included: they compete for the speech said over them, and only kept images become pairs. A
kept image another video showed first (flagged `duplicate_of`) is paired under that video's
image_id, unless that video already said nearly the same words over it (kept in the bucket
by `ImageTexts`, written before the pair is produced).
"""

from __future__ import annotations

from google.protobuf.message import Message

from quilt.adapters.stage_params import align_params
from quilt.adapters.store import put_json
from quilt.adapters.wire import pair_to_pb, scored_from_pb, sentences_from_pb
from quilt.adapters.writers import WebDatasetShardWriter
from quilt.core import keys, topics
from quilt.core.time_util import now_iso
from quilt.stages.align import ALIGNER_NAME, ImageTexts, align_video
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


def _load(ctx: Context, video_id: str, part: str, cls: type[Message]) -> Message | None:
    key = keys.join_key(video_id, part)
    if not ctx.store.exists(key):
        return None
    message = cls()
    message.ParseFromString(ctx.store.get_bytes(key))
    return message


def handle(ctx: Context, topic: str, message: Message) -> Result:
    part = "text" if isinstance(message, pb.DenoisedText) else "frames"
    video_id = message.video_id  # type: ignore[attr-defined]
    ctx.store.put_bytes(keys.join_key(video_id, part), message.SerializeToString())
    text = message if part == "text" else _load(ctx, video_id, "text", pb.DenoisedText)
    frames = message if part == "frames" else _load(ctx, video_id, "frames", pb.FilteredFrames)
    if text is None or frames is None:
        return Result(state="waiting", detail={"have": part})
    assert isinstance(text, pb.DenoisedText) and isinstance(frames, pb.FilteredFrames)
    models = {**dict(text.models), "histo_filter": frames.model, "aligner": ALIGNER_NAME}
    image_texts = ImageTexts(ctx.store, keys.IMAGE_TEXTS_PREFIX)
    earlier = {c.chunk.duplicate_of for c in frames.chunks if c.chunk.duplicate_of}
    alignment = align_video(video_id, text.source, scored_from_pb(list(frames.chunks)),
                            sentences_from_pb(list(text.sentences)), models, now_iso(), align_params(ctx.settings),
                            image_texts.texts_for(earlier, except_video=video_id))
    pairs = alignment.pairs
    writer = WebDatasetShardWriter(ctx.store, keys.PAIRS_PREFIX, video_id)
    outputs = []
    last_key, image = "", b""  # the texts of one showing are consecutive pairs: fetch their image once
    for record in pairs:
        put_json(ctx.store, keys.pair_key(video_id, record.pair_id), record.to_dict())
        if record.image != last_key:
            last_key, image = record.image, ctx.store.get_bytes(record.image)
        writer.write(record, image)
        image_texts.add(record)
        outputs.append(Output(topics.PAIRS, video_id, pair_to_pb(record)))
    writer.close()
    kept = sum(c.keep and not c.chunk.duplicate_of for c in frames.chunks)
    return Result(outputs=outputs, detail={"pairs": len(pairs), "kept_frames": kept,
                                           "repeated_frames": sum(bool(c.chunk.duplicate_of) for c in frames.chunks),
                                           "images": len({p.image_id for p in pairs}),
                                           "medical_sentences": sum(s.medical for s in text.sentences),
                                           "unpaired_sentences": alignment.unpaired,
                                           "sentences_cut": alignment.cut,
                                           "lag_s": round(alignment.lag_s, 3), "duplicates": alignment.duplicates})


SPEC = ServiceSpec(name="aligner", inputs={topics.DENOISED: pb.DenoisedText, topics.FILTERED: pb.FilteredFrames},
                   handle=handle)

if __name__ == "__main__":
    main(SPEC)
