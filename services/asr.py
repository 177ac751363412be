"""ASR: decoded audio windows -> Whisper transcript, with Whisper served by Triton.

Windows are transcribed one after the other with a short overlap merged at the
seams. Each window's text is written to the bucket as soon as it is known
(`transcripts/<video_id>/NNNNN.json`) and `quilt status` shows the progress, so a
long lecture produces text long before it finishes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
from google.protobuf.message import Message

from quilt.adapters.stage_params import asr_params
from quilt.adapters.status import write_status
from quilt.adapters.store import put_json
from quilt.adapters.wire import intervals_of, segments_to_pb
from quilt.core import keys, topics
from quilt.core.types import Segment
from quilt.stages.asr import (
    LanguageVerdict,
    RescueAttempt,
    TritonTranscriber,
    WindowRetry,
    load_lexicon,
    screen_shown,
    segments_to_json,
    transcribe_lecture,
)
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main

MAX_SCREEN_CHARS = 2000  # a chunk's screen text is read no further (the decoder writes at most this much)


def setup(ctx: Context) -> None:
    ctx.clients["transcriber"] = TritonTranscriber(ctx.settings.triton)
    ctx.clients["lexicon"] = load_lexicon()


def _windows(ctx: Context, message: pb.DecodedMedia) -> Iterator[tuple[float, np.ndarray]]:
    # Fetched just before use: at most the current and the next window are in memory.
    for window in message.audio_windows:
        yield window.t_start, np.frombuffer(ctx.store.get_bytes(window.key), dtype="<f4")


def handle(ctx: Context, topic: str, message: Message) -> Result:
    assert isinstance(message, pb.DecodedMedia)
    transcriber: TritonTranscriber = ctx.clients["transcriber"]
    vid, total = message.video_id, len(message.audio_windows)
    params = asr_params(ctx.settings)

    def on_window(number: int, segments: list[Segment]) -> None:
        put_json(ctx.store, keys.transcript_key(vid, number), segments_to_json(segments))
        write_status(ctx.store, vid, "asr", "running", detail={"windows_done": number + 1, "windows": total})

    def on_retry(retry: WindowRetry) -> None:
        # Whisper skipped speech (the domain prompt, a cold start mid-sentence, or a stretch hidden behind one
        # stretched word): worth seeing in logs and status.
        ctx.log.info("asr_window_retried", video_id=vid, **dataclasses.asdict(retry))

    def on_rescue(attempt: RescueAttempt) -> None:
        ctx.log.info("asr_sentence_reheard", video_id=vid, **dataclasses.asdict(attempt))

    def on_language(verdict: LanguageVerdict) -> None:
        if not verdict.english:  # with non_english "skip" the stage then fails the video, and the dead letter says why
            ctx.log.warning("narration_not_english", video_id=vid, why=verdict.why, policy=params.non_english)

    # The slides' words, as the decoder read them; only terms the lexicon knows are taken from them.
    shown = screen_shown(((intervals_of(c), c.screen_text[:MAX_SCREEN_CHARS]) for c in message.chunks),
                         ctx.clients["lexicon"])
    heard = transcribe_lecture(transcriber, _windows(ctx, message), message.sample_rate or 16000, params,
                               ctx.clients["lexicon"], on_window=on_window, on_retry=on_retry, on_rescue=on_rescue,
                               on_language=on_language, screen=shown)
    segments = heard.segments
    out = pb.Transcript(video_id=vid, source=message.source, model=transcriber.name,
                        segments=segments_to_pb(segments),
                        screen=[pb.ScreenShown(t_start=s.t_start, t_end=s.t_end, terms=s.terms) for s in shown])
    return Result(outputs=[Output(topics.TRANSCRIPTS, vid, out)],
                  detail={"segments": len(segments), "words": sum(len(s.words) for s in segments),
                          "windows": total, "windows_retried": heard.windows_retried,
                          "holes_reheard": heard.holes_reheard, "holes_filled": heard.holes_filled,
                          "language": heard.language.detail(),
                          "sentences_reheard": len(heard.rescues), "sentences_rescued": heard.sentences_rescued,
                          "screen_terms": len({t for s in shown for t in s.terms})})


SPEC = ServiceSpec(name="asr", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
