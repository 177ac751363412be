"""`quilt process`: the same stage code as the services, in one process, with no broker or Triton."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quilt.ids import chunk_id
from quilt.stages.align import ALIGNER_NAME, AlignParams, align_video
from quilt.stages.asr import FasterWhisperTranscriber, Transcriber
from quilt.stages.asr_windows import SpeechTally, WindowRetry, transcribe_windows
from quilt.stages.decode import (
    AUDIO_RATE,
    AUDIO_WINDOW_S,
    DECODER_NAME,
    DecodeParams,
    decode_frames,
    iter_audio,
    require_video,
)
from quilt.stages.denoise import DENOISER_NAME, load_lexicon
from quilt.stages.fetch import Source, fetch, parse_source, video_id_for
from quilt.stages.frame_view import frame_view
from quilt.stages.histo import HistoScorer, LocalHistoScorer
from quilt.stages.image_texts import ImageTexts
from quilt.stages.imaging import encode_jpeg
from quilt.stages.language import check_language, judge_language
from quilt.stages.llm_denoise import LlmDenoiser, denoise_with
from quilt.stages.magnification import magnification_class
from quilt.stages.media_limits import MediaLimits
from quilt.stages.phash_index import PhashIndex
from quilt.stages.term_rescue import TermRescue
from quilt.stages.types import FrameChunk, ScoredChunk, StageError
from quilt.store import LocalStore, ObjectStore
from quilt.time_util import now_iso
from quilt.video_trace import TracedChunk, TracedSentence, VideoTrace, write_trace
from quilt.writers import JsonlPairWriter

STEPS = ("fetch", "decode", "asr", "denoise", "histo", "align")


@dataclass
class VideoOutcome:
    source: str
    video_id: str = ""
    pairs: int = 0
    chunks: int = 0  # new images; near-duplicates of another video's images are counted in repeated_images
    repeated_images: int = 0
    asr_retries: int = 0  # windows transcribed again without the prompt because Whisper skipped their speech
    asr_holes: int = 0  # skipped stretches of speech a redo filled (quilt/stages/speech_holes.py)
    asr_rescued: int = 0  # sentences whose lost terms a wider-beam redo recovered
    cut: int = 0  # sentences ended at a pause the picture changed in (quilt/stages/break_at_changes.py)
    kept: int = 0
    sentences: int = 0
    medical: int = 0
    lag_s: float = 0.0  # the narrator's estimated lag behind (+) or ahead of (-) the slides
    duplicates: int = 0  # near-duplicate pairs dropped
    unpaired: int = 0  # medical sentences dropped with the non-histology picture (or repeat) they were said over
    duration_s: float = 0.0
    seconds: float = 0.0
    error: str = ""
    step_seconds: dict[str, float] = field(default_factory=dict)

    def count_retry(self, retry: WindowRetry) -> None:
        """A window heard again (asr_retries), or a skipped stretch heard again and filled (asr_holes)."""
        if retry.how != "hole":
            self.asr_retries += 1
        elif retry.kept_retry:
            self.asr_holes += 1


@dataclass
class Processor:
    """Runs every stage for one source at a time and appends pairs to one output folder."""

    out_dir: Path
    transcriber: Transcriber | None = None
    scorer: HistoScorer | None = None
    histo_threshold: float = 0.5
    pad_s: float = 1.0
    max_lag_s: float = 2.0
    max_words: int = 60
    dedup_jaccard: float = 0.8
    break_tolerance_s: float = 0.6  # see AlignParams.break_tolerance_s
    decode_params: DecodeParams | None = None
    on_step: Callable[[str, str], None] = lambda video, step: None
    s3_for: Callable[[Source], ObjectStore] | None = None  # opens the bucket of an s3:// source
    llm: LlmDenoiser | None = None  # an OpenAI-compatible corrector; None = the embedded lexicon corrector
    overlap_s: float = 2.0
    rescue: TermRescue | None = None  # hear again sentences that lost every term (quilt/stages/term_rescue.py)
    fetch_allow: tuple[str, ...] = ()  # non-public hosts http(s) sources may use (see net_guard)
    media_limits: MediaLimits | None = None  # None: the defaults
    non_english: str = "flag"  # "flag": pair it anyway (the check is logged); "skip": fail the video (non_english)

    def __post_init__(self) -> None:
        self.transcriber = self.transcriber or FasterWhisperTranscriber()
        self.scorer = self.scorer or LocalHistoScorer()
        self.lexicon = load_lexicon()
        self.writer = JsonlPairWriter(self.out_dir)
        # Near-duplicate images across videos, as the services keep it in the bucket.
        self.index = PhashIndex(LocalStore(self.out_dir / "index"), "phash")
        self.image_texts = ImageTexts(LocalStore(self.out_dir / "index"), "image-texts")

    def run(self, source_text: str) -> VideoOutcome:
        outcome = VideoOutcome(source=source_text)
        started = time.monotonic()
        try:
            self._run(source_text, outcome)
        except StageError as err:
            outcome.error = f"{err.reason}: {err}"
        outcome.seconds = time.monotonic() - started
        return outcome

    def _step(self, outcome: VideoOutcome, name: str) -> Callable[[], None]:
        self.on_step(outcome.video_id or outcome.source, name)
        began = time.monotonic()
        return lambda: outcome.step_seconds.__setitem__(name, time.monotonic() - began)

    def _run(self, source_text: str, outcome: VideoOutcome) -> None:
        assert self.transcriber is not None and self.scorer is not None
        source = parse_source(source_text)
        vid = outcome.video_id = video_id_for(source)
        with tempfile.TemporaryDirectory(prefix="quilt-process-") as tmp:
            done = self._step(outcome, "fetch")
            if source.kind == "s3" and self.s3_for is None:
                raise StageError("bad_source", f"{source.uri}: s3:// sources need S3 settings (QUILT_S3_*)")
            s3 = self.s3_for(source) if source.kind == "s3" and self.s3_for else None
            limits = self.media_limits or MediaLimits()
            fetched = fetch(source, Path(tmp), s3=s3, max_bytes=limits.max_bytes or None, allow=self.fetch_allow)
            done()
            done = self._step(outcome, "decode")
            frames = decode_frames(fetched.path, self.decode_params, limits)
            require_video(frames, source.uri)
            done()
            outcome.duration_s = frames.duration_s
            done = self._step(outcome, "asr")
            windows = ((w.t_start, w.samples) for w in iter_audio(fetched.path, AUDIO_RATE, AUDIO_WINDOW_S))
            tally = SpeechTally()
            batches = transcribe_windows(self.transcriber, windows, AUDIO_RATE, overlap_s=self.overlap_s,
                                         on_retry=outcome.count_retry,
                                         tally=tally, rescue=self.rescue, lexicon=self.lexicon,
                                         on_rescue=lambda a: setattr(outcome, "asr_rescued",
                                                                     outcome.asr_rescued + a.kept))
            segments = [s for batch in batches for s in batch]
            check_language(judge_language(segments, self.lexicon, tally.voiced_s), self.non_english)
            done()
        # A picture another video showed first is scored like any other, but its pairs point at that video's image.
        earlier = [self._earlier_image(vid, c) for c in frames.chunks]
        outcome.chunks, outcome.repeated_images = sum(not of for of in earlier), sum(bool(of) for of in earlier)
        done = self._step(outcome, "denoise")
        sentences, backend = denoise_with(self.llm, segments, self.lexicon)
        done()
        outcome.sentences, outcome.medical = len(sentences), sum(s.medical for s in sentences)
        done = self._step(outcome, "histo")
        views = [frame_view(c.image) for c in frames.chunks]
        scores = self.scorer.score([v.image for v in views]) if views else []
        jpegs: dict[str, bytes] = {}
        scored = []
        for chunk, of, view, score in zip(frames.chunks, earlier, views, scores, strict=True):
            cid = chunk_id(vid, chunk.t_start, chunk.t_end)
            image = of or cid
            # The pair shows the microscope field of view when the frame had UI chrome around it. An earlier
            # video's image already on disk is kept as it is (the writer never overwrites an image).
            jpegs.setdefault(image, encode_jpeg(view.image) if view.crop else chunk.jpeg)
            keep = score >= self.histo_threshold
            # Only kept chunks become pairs, so only they need the (8 ms) magnification estimate.
            magnification = magnification_class(view.image, histo_score=score) if keep else "unknown"
            for start, end in chunk.spans():
                scored.append(ScoredChunk(chunk_id=cid, t_start=start, t_end=end, image_ref=image, histo_score=score,
                                          keep=keep, phash=chunk.phash, impurity_tags=list(view.tags),
                                          crop=list(view.crop or []), magnification=magnification, duplicate_of=of))
        done()
        outcome.kept = sum(score >= self.histo_threshold for score, of in zip(scores, earlier, strict=True)
                           if not of)
        done = self._step(outcome, "align")
        denoiser = backend if backend.startswith("llm:") else DENOISER_NAME
        models = {"decoder": DECODER_NAME, "asr": self.transcriber.name, "denoiser": denoiser,
                  "histo_filter": self.scorer.name, "aligner": ALIGNER_NAME}
        params = AlignParams(pad_s=self.pad_s, max_lag_s=self.max_lag_s, max_words=self.max_words,
                             dedup_min_jaccard=self.dedup_jaccard, break_tolerance_s=self.break_tolerance_s)
        earlier_texts = self.image_texts.texts_for({of for of in earlier if of}, except_video=vid)
        alignment = align_video(vid, source.uri, scored, sentences, models, now_iso(), params, earlier_texts)
        for record in alignment.pairs:
            self.writer.write(record, jpegs[record.image])
            self.image_texts.add(record)
        done()
        outcome.pairs, outcome.lag_s, outcome.duplicates = len(alignment.pairs), alignment.lag_s, alignment.duplicates
        outcome.unpaired, outcome.cut = alignment.unpaired, alignment.cut
        write_trace(self.out_dir, VideoTrace(
            video_id=vid, source=source.uri,
            sentences=[TracedSentence(round(s.start, 3), round(s.end, 3), s.text, s.medical)
                       for s in alignment.sentences],
            chunks=[TracedChunk(c.t_start, c.t_end, c.keep, round(c.histo_score, 4), c.duplicate_of) for c in scored]))

    def _earlier_image(self, video_id: str, chunk: FrameChunk) -> str:
        """The chunk id of another video's near-duplicate image in this output folder, or "" for a new image
        (which is then indexed; a repeat is not, so the index keeps one entry per distinct picture)."""
        match = self.index.find(chunk.phash, video_id=video_id)
        if match is not None:
            return match.chunk_id
        self.index.add(chunk.phash, video_id, chunk_id(video_id, chunk.t_start, chunk.t_end), "")
        return ""

    def close(self) -> None:
        self.writer.close()
