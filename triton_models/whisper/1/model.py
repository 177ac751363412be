"""Triton python-backend model wrapping quilt's FasterWhisperTranscriber."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from quilt.adapters.stage_params import whisper_model_path
from quilt.core.types import StageError
from quilt.stages.asr.whisper import FasterWhisperTranscriber, segments_to_json, stage_error_message


def _param(config: dict[str, Any], key: str, default: str) -> str:
    value = config.get("parameters", {}).get(key, {}).get("string_value", "")
    return value or default


def _prompt(value: str) -> str | None:
    # A config parameter cannot be absent-vs-empty, so "" means the default prompt and the
    # literal "none" turns prompting off (FasterWhisperTranscriber's None / "" convention).
    return "" if value.strip().lower() == "none" else (value or None)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        path_str = _param(config, "model_path", "")
        # An explicit model_path wins; else QUILT_WHISPER_MODEL, else the packaged tiny.en.
        path = Path(path_str) if path_str else whisper_model_path()
        device = "cuda" if args.get("model_instance_kind") == "GPU" else "cpu"
        self.transcriber = FasterWhisperTranscriber(
            path, compute_type=_param(config, "compute_type", "int8"),
            beam_size=int(_param(config, "beam_size", "1")),
            cpu_threads=int(_param(config, "cpu_threads", "2")),
            word_timestamps=_param(config, "word_timestamps", "true").lower() == "true",
            vad_filter=_param(config, "vad_filter", "false").lower() == "true",
            device=device, initial_prompt=_prompt(_param(config, "initial_prompt", "")))

    def _one(self, request: Any) -> Any:
        audio = pb_utils.get_input_tensor_by_name(request, "AUDIO_16K").as_numpy().reshape(-1)
        options: dict[str, Any] = {}
        opt = pb_utils.get_input_tensor_by_name(request, "OPTIONS_JSON")
        if opt is not None:
            raw = opt.as_numpy().reshape(-1)[0]
            options = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        segments = self.transcriber.transcribe(
            audio, initial_prompt=options.get("initial_prompt"), beam_size=options.get("beam_size"),
            vad_filter=options.get("vad_filter"))
        doc = {"model": self.transcriber.name, "language": "en", **segments_to_json(segments)}
        out = np.array([json.dumps(doc).encode()], dtype=np.object_)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("TRANSCRIPT_JSON", out)])

    def execute(self, requests: list[Any]) -> list[Any]:
        # With dynamic batching Triton hands over several requests at once; they are decoded one
        # after another because CTranslate2 on CPU gained nothing from batching whole windows
        # (quilt bench asr), while a second instance does use the second core.
        responses = []
        for request in requests:
            try:
                responses.append(self._one(request))
            except StageError as err:
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(stage_error_message(err))))
            except Exception as exc:  # one bad request must not fail the others in the batch
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}")))
        return responses
