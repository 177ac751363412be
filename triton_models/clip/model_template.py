"""Triton python-backend model: one promoted CLIP version (copied to `clip/<N>/model.py` by training/promote.py).

Next to this file: `weights.pt` (the model's state dict) and `clip.json` (the training config's model
section and the checkpoint name). IMAGES (uint8 [n, h, w, 3]) and TEXTS (strings [n]) are both optional;
each request gets the embeddings of what it sent, L2-normalised, plus CHECKPOINT.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import triton_python_backend_utils as pb_utils

from training.config import ModelConfig
from training.model import build_model, image_size, image_tensor, tokenizer


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        folder = Path(args["model_repository"]) / str(args["model_version"])
        meta = json.loads((folder / "clip.json").read_text())
        # The weights come from weights.pt: no pretrained tag or path is fetched here.
        config = ModelConfig(**{**meta["model"], "pretrained": None, "allow_download": False,
                                "lock_image_tower": False})
        torch.set_num_threads(1)
        self.model = build_model(config)
        self.model.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
        self.model.eval()
        self.size = image_size(self.model)
        self.tokenize = tokenizer(config.text.get("context_length", config.context_length))
        self.checkpoint = np.array([str(meta.get("checkpoint", "")).encode()], dtype=np.object_)

    @torch.no_grad()
    def _one(self, request: Any) -> Any:
        outputs = [pb_utils.Tensor("CHECKPOINT", self.checkpoint)]
        images = pb_utils.get_input_tensor_by_name(request, "IMAGES")
        if images is not None:
            array = images.as_numpy()
            if len(array):
                batch = torch.stack([image_tensor(np.ascontiguousarray(a), self.size) for a in array])
                emb = torch.nn.functional.normalize(self.model.encode_image(batch).float(),  # type: ignore[operator]
                                                   dim=-1).numpy()
            else:
                emb = np.zeros((0, 0), np.float32)
            outputs.append(pb_utils.Tensor("IMAGE_EMBEDDINGS", emb.astype(np.float32)))
        texts = pb_utils.get_input_tensor_by_name(request, "TEXTS")
        if texts is not None:
            strings = [t.decode() if isinstance(t, bytes) else str(t) for t in texts.as_numpy().reshape(-1)]
            if strings:
                tokens = self.tokenize(strings)
                emb = torch.nn.functional.normalize(self.model.encode_text(tokens).float(),  # type: ignore[operator]
                                                   dim=-1).numpy()
            else:
                emb = np.zeros((0, 0), np.float32)
            outputs.append(pb_utils.Tensor("TEXT_EMBEDDINGS", emb.astype(np.float32)))
        return pb_utils.InferenceResponse(output_tensors=outputs)

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(self._one(request))
            except Exception as exc:  # keep the other requests of the batch alive
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}")))
        return responses
