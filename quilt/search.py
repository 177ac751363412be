"""Text -> pair image search with the CLIP that Triton serves, over an embedding index kept in the store.

Index layout (one per served model version, so a promotion never mixes embedding spaces):
  index/clip/<version>/embeddings.npy   float32 [n, dim], L2-normalised image embeddings
  index/clip/<version>/pairs.json       [{pair_id, text, image, labels}] in the same row order
  index/clip/latest.json                {"version": N, "count": n}
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quilt.records import PairRecord
from quilt.store import ObjectStore, get_json, put_json
from quilt.writers import read_pairs_jsonl as read_records

MODEL_NAME = "clip"
INDEX_PREFIX = "index/clip"


class SearchError(RuntimeError):
    """Triton or the index is missing or unusable; the message says which."""


@dataclass(frozen=True)
class Hit:
    pair_id: str
    score: float
    text: str
    image: str
    labels: tuple[str, ...]


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


def read_pairs_jsonl(path: Path) -> list[PairRecord]:
    """Pair records from a `pairs.jsonl` file (or a folder holding one, or folder-topic partitions)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("pairs.jsonl")) or sorted(path.glob("partition-*.jsonl"))
    if not files:
        raise SearchError(f"no pairs.jsonl or partition-*.jsonl in {path}")
    records = []
    for file in files:
        try:
            records.extend(read_records(file))  # the one reader of pairs.jsonl (quilt/writers.py)
        except ValueError as err:  # names the line that is not a pair record
            raise SearchError(str(err)) from None
    return records


def build_index(store: ObjectStore, clip: TritonClip, records: Iterable[PairRecord],
                image_root: Path | None = None, batch: int = 64) -> dict[str, Any]:
    """Embed each pair's image with the served CLIP and write the index for the served version to the store.

    Images are read from the store by key, or from `image_root / key` when given (a `quilt process` folder).
    """
    from quilt.stages.imaging import decode_jpeg

    version = clip.served_version()
    rows: list[dict[str, Any]] = []
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    for record in records:
        data = (image_root / record.image).read_bytes() if image_root else store.get_bytes(record.image)
        pending.append(decode_jpeg(data))
        rows.append({"pair_id": record.pair_id, "text": record.text, "image": record.image,
                     "labels": list(record.sub_pathology or [])})
        if len(pending) >= batch:
            chunks.append(clip.embed_images(pending))
            pending = []
    if pending:
        chunks.append(clip.embed_images(pending))
    if not rows:
        raise SearchError("no pairs to index")
    embeddings = np.concatenate(chunks).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, embeddings)
    base = f"{INDEX_PREFIX}/{version}"
    store.put_bytes(f"{base}/embeddings.npy", buffer.getvalue())
    put_json(store, f"{base}/pairs.json", rows)
    summary = {"version": version, "count": len(rows), "dim": int(embeddings.shape[1])}
    put_json(store, f"{INDEX_PREFIX}/latest.json", summary)
    return summary


def load_index(store: ObjectStore, version: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    base = f"{INDEX_PREFIX}/{version}"
    if not store.exists(f"{base}/embeddings.npy"):
        raise SearchError(f"no search index for clip version {version} in the store ({base}/); build it with "
                          "`quilt search --index-build PAIRS`")
    embeddings = np.load(io.BytesIO(store.get_bytes(f"{base}/embeddings.npy")))
    return embeddings, get_json(store, f"{base}/pairs.json")


def search(store: ObjectStore, clip: TritonClip, query: str, k: int = 5) -> list[Hit]:
    """The k pairs whose image embedding is nearest (cosine) to the query's text embedding."""
    embeddings, rows = load_index(store, clip.served_version())
    text = clip.embed_texts([query])[0]
    scores = embeddings @ text
    order = np.argsort(-scores, kind="stable")[:k]
    return [Hit(rows[i]["pair_id"], float(scores[i]), rows[i]["text"], rows[i]["image"], tuple(rows[i]["labels"]))
            for i in order]
