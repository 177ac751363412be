"""`quilt process`: the same stage code as the services, in one process, with no broker or Triton."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from quilt.adapters import stage_params
from quilt.adapters.config import Settings
from quilt.adapters.store import LocalStore, ObjectStore
from quilt.adapters.writers import JsonlPairWriter
from quilt.core.ids import region_chunk_id
from quilt.core.imaging import encode_jpeg
from quilt.core.time_util import now_iso
from quilt.core.types import ScoredChunk, StageError
from quilt.evaluation.video_trace import TracedChunk, TracedSentence, VideoTrace, write_trace
from quilt.stages.align import ALIGNER_NAME, AlignParams, ImageTexts, align_video
from quilt.stages.asr import (
    AsrParams,
    FasterWhisperTranscriber,
    Transcriber,
    WindowRetry,
    load_lexicon,
    screen_shown,
    transcribe_lecture,
)
from quilt.stages.common.media_limits import MediaLimits
from quilt.stages.decode import AUDIO_RATE, DECODER_NAME, DecodeParams, OcrParams, PhashIndex, decode_lecture
from quilt.stages.denoise import LlmDenoiser, denoise_transcript
from quilt.stages.fetch import FetchParams, Source, fetch_video, parse_source, s3_store_for, video_id_for
from quilt.stages.histo import HistoParams, HistoScorer, LocalHistoScorer, filter_frames

STEPS = ("fetch", "decode", "asr", "denoise", "histo", "align")


@dataclass
class VideoOutcome:
    source: str
    video_id: str = ""
    pairs: int = 0
    chunks: int = 0  # new images; near-duplicates of another video's images are counted in repeated_images
    repeated_images: int = 0
    asr_retries: int = 0  # windows transcribed again without the prompt because Whisper skipped their speech
    asr_holes: int = 0  # skipped stretches of speech a redo filled (quilt/stages/asr/speech_holes.py)
    asr_rescued: int = 0  # sentences whose lost terms a wider-beam redo recovered
    cut: int = 0  # sentences ended at a pause the picture changed in (quilt/stages/align/break_at_changes.py)
    kept: int = 0
    sentences: int = 0
    medical: int = 0
    lag_s: float = 0.0  # the narrator's estimated lag behind (+) or ahead of (-) the slides
    duplicates: int = 0  # near-duplicate pairs dropped
    unpaired: int = 0  # medical sentences dropped with the non-histology picture (or repeat) they were said over
    duration_s: float = 0.0
    ocr_failures: int = 0  # key frames whose OCR failed or timed out (they have no screen text; the video went on)
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
    """Runs every stage for one source at a time and appends pairs to one output folder.

    It calls each stage's entry point and nothing else of the stage, as the services do; the
    parameters are the stages' own (`processor_from_settings` builds them from the settings as the services do).
    """

    out_dir: Path
    transcriber: Transcriber | None = None
    scorer: HistoScorer | None = None
    fetch: FetchParams = field(default_factory=FetchParams)
    limits: MediaLimits | None = None  # None: the defaults
    decode: DecodeParams | None = None
    ocr: OcrParams = field(default_factory=OcrParams)
    asr: AsrParams = field(default_factory=AsrParams)
    histo: HistoParams = field(default_factory=HistoParams)
    align: AlignParams = field(default_factory=AlignParams)
    llm: LlmDenoiser | None = None  # an OpenAI-compatible corrector; None = the embedded lexicon corrector
    s3_for: Callable[[Source], ObjectStore] | None = None  # opens the bucket of an s3:// source
    on_step: Callable[[str, str], None] = lambda video, step: None

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
            fetched = fetch_video(source, Path(tmp), self.fetch, s3_for=self.s3_for)
            done()
            done = self._step(outcome, "decode")
            # The writer stores each pair's image, so a new key frame is only indexed here, not stored.
            decoded = decode_lecture(fetched.path, vid, source.uri, self.index, params=self.decode,
                                     limits=self.limits, ocr=self.ocr)
            done()
            outcome.ocr_failures = decoded.ocr_failures
            shown = screen_shown(((k.chunk.spans(), k.screen_text) for k in decoded.key_frames), self.lexicon)
            outcome.duration_s = decoded.frames.duration_s
            done = self._step(outcome, "asr")
            heard = transcribe_lecture(self.transcriber, ((w.t_start, w.samples) for w in decoded.audio_windows()),
                                       AUDIO_RATE, self.asr, self.lexicon, on_retry=outcome.count_retry,
                                       screen=shown)
            outcome.asr_rescued = heard.sentences_rescued
            done()
        key_frames = decoded.key_frames
        outcome.repeated_images = decoded.repeats
        outcome.chunks = len(key_frames) - decoded.repeats
        done = self._step(outcome, "denoise")
        denoised = denoise_transcript(heard.segments, self.lexicon, self.llm, shown)
        sentences = denoised.sentences
        done()
        outcome.sentences, outcome.medical = len(sentences), sum(s.medical for s in sentences)
        done = self._step(outcome, "histo")
        # A picture another video showed first is scored like any other, but its pairs point at that video's image.
        verdicts = filter_frames([k.chunk.image for k in key_frames], self.scorer, self.histo)
        jpegs: dict[str, bytes] = {}
        scored = []
        for frame, verdict in zip(key_frames, verdicts, strict=True):
            chunk, view = frame.chunk, verdict.view
            # The pair shows the microscope field of view when the frame had UI chrome around it. An earlier
            # video's image already on disk is kept as it is (the writer never overwrites an image).
            jpegs.setdefault(frame.image_id, encode_jpeg(view.image) if view.crop else chunk.jpeg)
            for start, end in chunk.spans():
                scored.append(ScoredChunk(chunk_id=frame.chunk_id, t_start=start, t_end=end,
                                          image_ref=frame.image_id, histo_score=verdict.score, keep=verdict.keep,
                                          phash=chunk.phash, impurity_tags=list(view.tags),
                                          crop=list(view.crop or []), magnification=verdict.magnification,
                                          duplicate_of=frame.duplicate_of, screen_text=frame.screen_text))
            # The frame's other histology pictures, each its own image (another video's had its own made there).
            for number, other in enumerate([] if frame.duplicate_of else verdict.others, start=1):
                region_id = region_chunk_id(frame.chunk_id, number)
                jpegs[region_id] = encode_jpeg(other.view.image)
                scored += [ScoredChunk(chunk_id=region_id, t_start=start, t_end=end, image_ref=region_id,
                                       histo_score=other.score, keep=True, impurity_tags=list(other.view.tags),
                                       crop=list(other.view.crop or []), magnification=other.magnification,
                                       screen_text=frame.screen_text, region_of=frame.chunk_id)
                           for start, end in chunk.spans()]
        done()
        outcome.kept = sum(v.keep for k, v in zip(key_frames, verdicts, strict=True) if not k.duplicate_of)
        done = self._step(outcome, "align")
        models = {"decoder": DECODER_NAME, "asr": self.transcriber.name, "denoiser": denoised.model,
                  "histo_filter": self.scorer.name, "aligner": ALIGNER_NAME}
        earlier_texts = self.image_texts.texts_for({k.duplicate_of for k in key_frames if k.duplicate_of},
                                                   except_video=vid)
        alignment = align_video(vid, source.uri, scored, sentences, models, now_iso(), self.align, earlier_texts)
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

    def close(self) -> None:
        self.writer.close()


def processor_from_settings(out_dir: Path, settings: Settings, *, transcriber: Transcriber | None = None,
                            scorer: HistoScorer | None = None, on_step: Callable[[str, str], None] | None = None,
                            use_llm: bool = True, histo_threshold: float | None = None, pad_s: float | None = None,
                            max_lag_s: float | None = None, max_words: int | None = None,
                            dedup_min_jaccard: float | None = None) -> Processor:
    """A Processor whose stage parameters come from the settings, as the services' do (quilt.adapters.stage_params).

    The keyword overrides (`quilt process`'s options) replace the settings' values where not None.
    `use_llm=False` keeps the embedded lexicon corrector even when an LLM endpoint is configured. A user's
    own `quilt process` reads local files anywhere, so the local_source_roots setting (a service's guard)
    does not apply.
    """
    histo = stage_params.histo_params(settings)
    align = stage_params.align_params(settings)
    asr = stage_params.asr_params(settings)

    def s3_for(source: Source) -> ObjectStore:
        return s3_store_for(source, settings.s3, settings.s3_access_key, settings.s3_secret_key,
                            secure=settings.s3_secure)

    llm = (LlmDenoiser(settings.llm_base_url, settings.llm_model, api_key=settings.llm_api_key or None,
                       timeout_s=settings.llm_timeout_s) if use_llm and settings.llm_base_url else None)
    return Processor(
        out_dir,
        transcriber=transcriber or FasterWhisperTranscriber(model_path=stage_params.whisper_model_path(),
                                                            initial_prompt=asr.initial_prompt),
        scorer=scorer or LocalHistoScorer(settings.histo_model),
        fetch=replace(stage_params.fetch_params(settings), local_roots=None),
        limits=stage_params.media_limits(settings),
        ocr=stage_params.ocr_params(settings),
        asr=asr,
        histo=histo if histo_threshold is None else replace(histo, threshold=histo_threshold),
        align=replace(align, pad_s=align.pad_s if pad_s is None else pad_s,
                      max_lag_s=align.max_lag_s if max_lag_s is None else max_lag_s,
                      max_words=align.max_words if max_words is None else max_words,
                      dedup_min_jaccard=align.dedup_min_jaccard if dedup_min_jaccard is None else dedup_min_jaccard),
        llm=llm, s3_for=s3_for, on_step=on_step or (lambda video, step: None))
