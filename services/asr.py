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

from quilt import topics
from quilt.stages.asr import TritonTranscriber, segments_to_json
from quilt.stages.asr_windows import SpeechTally, WindowRetry, transcribe_windows
from quilt.stages.language import check_language, judge_language
from quilt.stages.lexicon import load_lexicon
from quilt.stages.term_rescue import RescueAttempt
from quilt.status import write_status
from quilt.store import put_json
from quilt.wire import segments_to_pb
from quiltpb.v1 import messages_pb2 as pb

from .contract import Context, Output, Result, ServiceSpec
from .runtime import main


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
    segments = []
    retried: list[WindowRetry] = []

    def on_retry(retry: WindowRetry) -> None:
        # Whisper skipped speech (the domain prompt, a cold start mid-sentence, or a stretch hidden behind one
        # stretched word): worth seeing in logs and status.
        retried.append(retry)
        ctx.log.info("asr_window_retried", video_id=vid, **dataclasses.asdict(retry))

    rescued: list[RescueAttempt] = []

    def on_rescue(attempt: RescueAttempt) -> None:
        rescued.append(attempt)
        ctx.log.info("asr_sentence_reheard", video_id=vid, **dataclasses.asdict(attempt))

    tally = SpeechTally()
    batches = transcribe_windows(transcriber, _windows(ctx, message), message.sample_rate or 16000,
                                 overlap_s=ctx.settings.asr_overlap_s, initial_prompt=ctx.settings.whisper_prompt(),
                                 on_retry=on_retry, tally=tally, rescue=ctx.settings.term_rescue(),
                                 lexicon=ctx.clients["lexicon"], on_rescue=on_rescue)
    for number, batch in enumerate(batches):
        segments.extend(batch)
        put_json(ctx.store, f"transcripts/{vid}/{number:05d}.json", segments_to_json(batch))
        write_status(ctx.store, vid, "asr", "running", detail={"windows_done": number + 1, "windows": total})
    verdict = judge_language(segments, ctx.clients["lexicon"], tally.voiced_s)
    if not verdict.english:
        ctx.log.warning("narration_not_english", video_id=vid, why=verdict.why, policy=ctx.settings.non_english)
    check_language(verdict, ctx.settings.non_english)  # "skip": a StageError, so the dead-letter topic says why
    out = pb.Transcript(video_id=vid, source=message.source, model=transcriber.name,
                        segments=segments_to_pb(segments))
    return Result(outputs=[Output(topics.TRANSCRIPTS, vid, out)],
                  detail={"segments": len(segments), "words": sum(len(s.words) for s in segments),
                          "windows": total, "windows_retried": sum(r.how != "hole" for r in retried),
                          "holes_reheard": sum(r.how == "hole" for r in retried),
                          "holes_filled": sum(r.how == "hole" and r.kept_retry for r in retried),
                          "language": verdict.detail(),
                          "sentences_reheard": len(rescued), "sentences_rescued": sum(a.kept for a in rescued)})


SPEC = ServiceSpec(name="asr", inputs={topics.DECODED: pb.DecodedMedia}, handle=handle, setup=setup)

if __name__ == "__main__":
    main(SPEC)
