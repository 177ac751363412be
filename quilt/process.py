"""`quilt process`: the same stage code as the services, in one process, with no broker or Triton."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quilt.ids import chunk_id
from quilt.stages.align import ALIGNER_NAME, align
from quilt.stages.asr import FasterWhisperTranscriber, Transcriber
from quilt.stages.asr_windows import transcribe_windows
from quilt.stages.decode import AUDIO_RATE, AUDIO_WINDOW_S, DECODER_NAME, DecodeParams, decode_frames, iter_audio
from quilt.stages.denoise import DENOISER_NAME, load_lexicon
from quilt.stages.fetch import Source, fetch, parse_source, video_id_for
from quilt.stages.frame_view import frame_view
from quilt.stages.histo import HistoScorer, LocalHistoScorer
from quilt.stages.imaging import encode_jpeg
from quilt.stages.llm_denoise import LlmDenoiser, denoise_with
from quilt.stages.phash_index import PhashIndex
from quilt.stages.types import FrameChunk, ScoredChunk, StageError
from quilt.store import LocalStore, ObjectStore
from quilt.time_util import now_iso
from quilt.writers import JsonlPairWriter

STEPS = ("fetch", "decode", "asr", "denoise", "histo", "align")


@dataclass
class VideoOutcome:
    source: str
    video_id: str = ""
    pairs: int = 0
    chunks: int = 0
    kept: int = 0
    sentences: int = 0
    medical: int = 0
    duration_s: float = 0.0
    seconds: float = 0.0
    error: str = ""
    step_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Processor:
    """Runs every stage for one source at a time and appends pairs to one output folder."""

    out_dir: Path
    transcriber: Transcriber | None = None
    scorer: HistoScorer | None = None
    histo_threshold: float = 0.5
    pad_s: float = 1.0
    decode_params: DecodeParams | None = None
    on_step: Callable[[str, str], None] = lambda video, step: None
    s3_for: Callable[[Source], ObjectStore] | None = None  # opens the bucket of an s3:// source
    llm: LlmDenoiser | None = None  # an OpenAI-compatible corrector; None = the embedded lexicon corrector
    overlap_s: float = 2.0

    def __post_init__(self) -> None:
        self.transcriber = self.transcriber or FasterWhisperTranscriber()
        self.scorer = self.scorer or LocalHistoScorer()
        self.lexicon = load_lexicon()
        self.writer = JsonlPairWriter(self.out_dir)
        # Near-duplicate images across videos, as the services keep it in the bucket.
        self.index = PhashIndex(LocalStore(self.out_dir / "index"), "phash")

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
            fetched = fetch(source, Path(tmp), s3=s3)
            done()
            done = self._step(outcome, "decode")
            frames = decode_frames(fetched.path, self.decode_params)
            done()
            outcome.duration_s = frames.duration_s
            done = self._step(outcome, "asr")
            windows = ((w.t_start, w.samples) for w in iter_audio(fetched.path, AUDIO_RATE, AUDIO_WINDOW_S))
            batches = transcribe_windows(self.transcriber, windows, AUDIO_RATE, overlap_s=self.overlap_s)
            segments = [s for batch in batches for s in batch]
            done()
        chunks = [c for c in frames.chunks if self._new_image(vid, c)]
        outcome.chunks = len(chunks)
        done = self._step(outcome, "denoise")
        sentences, backend = denoise_with(self.llm, segments, self.lexicon)
        done()
        outcome.sentences, outcome.medical = len(sentences), sum(s.medical for s in sentences)
        done = self._step(outcome, "histo")
        views = [frame_view(c.image) for c in chunks]
        scores = self.scorer.score([v.image for v in views]) if chunks else []
        jpegs: dict[str, bytes] = {}
        scored = []
        for chunk, view, score in zip(chunks, views, scores, strict=True):
            cid = chunk_id(vid, chunk.t_start, chunk.t_end)
            # The pair shows the microscope field of view when the frame had UI chrome around it.
            jpegs[cid] = encode_jpeg(view.image) if view.crop else chunk.jpeg
            for start, end in chunk.spans():
                scored.append(ScoredChunk(chunk_id=cid, t_start=start, t_end=end, image_ref=cid, histo_score=score,
                                          keep=score >= self.histo_threshold, phash=chunk.phash))
        done()
        outcome.kept = sum(score >= self.histo_threshold for score in scores)
        done = self._step(outcome, "align")
        denoiser = backend if backend.startswith("llm:") else DENOISER_NAME
        models = {"decoder": DECODER_NAME, "asr": self.transcriber.name, "denoiser": denoiser,
                  "histo_filter": self.scorer.name, "aligner": ALIGNER_NAME}
        pairs = align(vid, source.uri, scored, sentences, models, now_iso(), pad_s=self.pad_s)
        for record in pairs:
            self.writer.write(record, jpegs[record.image])
        done()
        outcome.pairs = len(pairs)

    def _new_image(self, video_id: str, chunk: FrameChunk) -> bool:
        """False for a near-duplicate of another video's image already in this output folder."""
        if self.index.find(chunk.phash, video_id=video_id) is not None:
            return False
        self.index.add(chunk.phash, video_id, chunk_id(video_id, chunk.t_start, chunk.t_end), "")
        return True

    def close(self) -> None:
        self.writer.close()
