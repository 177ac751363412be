"""Triton python-backend model: the histology classifier that QUILT_HISTO_MODEL names.

The same loader as in-process scoring (quilt.stages.histo.scorers.load_scorer): "embedded" (default),
a JSON model from scripts/train_histo.py, or "package.module:factory". The scorer's name goes
back with every score, so the pair records name the model that actually scored.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from quilt.stages.histo.scorers import HistoScorer, load_scorer


def configured_scorer(env: dict[str, str] | None = None) -> HistoScorer:
    spec = (os.environ if env is None else env).get("QUILT_HISTO_MODEL", "") or "embedded"
    return load_scorer(spec)


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        # A bad spec fails the model load, with the loader's message naming the spec.
        self.scorer = configured_scorer()

    def _one(self, request: Any) -> Any:
        image = pb_utils.get_input_tensor_by_name(request, "IMAGE_RGB").as_numpy()
        score = np.array(self.scorer.score([image]), dtype=np.float32).reshape(1)
        # Read after scoring: a plugin such as quilt.stages.histo.clip follows newly promoted models.
        name = np.array([self.scorer.name.encode()], dtype=np.object_)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("HISTO_SCORE", score),
                                                          pb_utils.Tensor("MODEL_NAME", name)])

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(self._one(request))
            except Exception as exc:  # keep the other requests of the batch alive
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}")))
        return responses
