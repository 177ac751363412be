"""Client of the CLIP that Triton serves (`triton_models/clip`), shared by search and the histology filter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MODEL_NAME = "clip"


class SearchError(RuntimeError):
    """Triton or the index is missing or unusable; the message says which."""


class TritonClip:
    """Client of `triton_models/clip`: IMAGES -> IMAGE_EMBEDDINGS, TEXTS -> TEXT_EMBEDDINGS (L2-normalised)."""

    def __init__(self, url: str, model: str = MODEL_NAME, timeout_s: float = 60.0, batch: int = 64) -> None:
        import tritonclient.grpc as grpcclient

        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self.batch = batch
        self._client = grpcclient.InferenceServerClient(url)

    def served_version(self) -> int:
        """The newest ready version of the model; SearchError when Triton or the model is not there."""
        from tritonclient.utils import InferenceServerException

        try:
            index = self._client.get_model_repository_index(as_json=True)
        except InferenceServerException as exc:
            raise SearchError(f"Triton at {self.url} is not reachable: {exc}") from exc
        ready = [int(m["version"]) for m in index.get("models", [])
                 if m.get("name") == self.model and m.get("state") == "READY" and m.get("version", "").isdigit()]
        if not ready:
            raise SearchError(f"Triton at {self.url} serves no ready {self.model!r} model; promote a checkpoint "
                              "first (python -m training.promote)")
        return max(ready)

    def _infer(self, name: str, array: np.ndarray, dtype: str, output: str) -> np.ndarray:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        inp = grpcclient.InferInput(name, list(array.shape), dtype)
        inp.set_data_from_numpy(array)
        try:
            res = self._client.infer(self.model, [inp], outputs=[grpcclient.InferRequestedOutput(output)],
                                     client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise SearchError(f"Triton model {self.model!r} at {self.url} failed: {exc}") from exc
        out = res.as_numpy(output)
        if out is None:
            raise SearchError(f"Triton model {self.model!r} returned no {output}")
        return out.astype(np.float32)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 images (any size; resized by the model) -> [n, dim]. One request per same-size run."""
        parts = []
        i = 0
        while i < len(images):
            first = np.asarray(images[i])
            j = i + 1
            while j < len(images) and j - i < self.batch and np.asarray(images[j]).shape == first.shape:
                j += 1
            batch = np.ascontiguousarray(np.stack([_rgb(im) for im in images[i:j]]))
            parts.append(self._infer("IMAGES", batch, "UINT8", "IMAGE_EMBEDDINGS"))
            i = j
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self.batch):
            array = np.array([t.encode() for t in texts[i:i + self.batch]], dtype=np.object_)
            parts.append(self._infer("TEXTS", array, "BYTES", "TEXT_EMBEDDINGS"))
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def close(self) -> None:
        self._client.close()


def _rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return arr[..., :3]
