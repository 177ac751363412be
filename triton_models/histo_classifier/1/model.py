"""Triton python-backend model serving quilt.stages.histo.histo_score."""

from __future__ import annotations

from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from quilt.stages.histo import histo_score


class TritonPythonModel:
    def _one(self, request: Any) -> Any:
        image = pb_utils.get_input_tensor_by_name(request, "IMAGE_RGB").as_numpy()
        score = np.array([histo_score(image)], dtype=np.float32)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("HISTO_SCORE", score)])

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(self._one(request))
            except Exception as exc:  # keep the other requests of the batch alive
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}")))
        return responses
