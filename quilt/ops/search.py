"""Text -> pair image search with the CLIP that Triton serves, over an embedding index kept in the store.

Index layout (one per served model version, so a promotion never mixes embedding spaces; see quilt/core/keys.py):
  index/clip/<version>/embeddings.npy   float32 [n, dim], L2-normalised image embeddings
  index/clip/<version>/pairs.json       [{pair_id, text, image, labels}] in the same row order
  index/clip/latest.json                {"version": N, "count": n}
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.adapters.triton_clip import SearchError, TritonClip
from quilt.adapters.writers import read_pairs_jsonl as read_records
from quilt.core import keys
from quilt.core.records import PairRecord

INDEX_PREFIX = keys.SEARCH_INDEX_PREFIX


@dataclass(frozen=True)
class Hit:
    pair_id: str
    score: float
    text: str
    image: str
    labels: tuple[str, ...]


def read_pairs_jsonl(path: Path) -> list[PairRecord]:
    """Pair records from a `pairs.jsonl` file (or a folder holding one, or folder-topic partitions)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("pairs.jsonl")) or sorted(path.glob("partition-*.jsonl"))
    if not files:
        raise SearchError(f"no pairs.jsonl or partition-*.jsonl in {path}")
    records = []
    for file in files:
        try:
            records.extend(read_records(file))  # the one reader of pairs.jsonl (quilt/adapters/writers.py)
        except ValueError as err:  # names the line that is not a pair record
            raise SearchError(str(err)) from None
    return records


def build_index(store: ObjectStore, clip: TritonClip, records: Iterable[PairRecord],
                image_root: Path | None = None, batch: int = 64) -> dict[str, Any]:
    """Embed each pair's image with the served CLIP and write the index for the served version to the store.

    Images are read from the store by key, or from `image_root / key` when given (a `quilt process` folder).
    """
    from quilt.core.imaging import decode_jpeg

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
    base = keys.search_index_folder(version)
    store.put_bytes(keys.search_embeddings_key(base), buffer.getvalue())
    put_json(store, keys.search_rows_key(base), rows)
    summary = {"version": version, "count": len(rows), "dim": int(embeddings.shape[1])}
    put_json(store, keys.SEARCH_LATEST_KEY, summary)
    return summary


def load_index(store: ObjectStore, version: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    base = keys.search_index_folder(version)
    if not store.exists(keys.search_embeddings_key(base)):
        raise SearchError(f"no search index for clip version {version} in the store ({base}); build it with "
                          "`quilt search --index-build PAIRS`")
    embeddings = np.load(io.BytesIO(store.get_bytes(keys.search_embeddings_key(base))))
    return embeddings, get_json(store, keys.search_rows_key(base))


def search(store: ObjectStore, clip: TritonClip, query: str, k: int = 5) -> list[Hit]:
    """The k pairs whose image embedding is nearest (cosine) to the query's text embedding."""
    embeddings, rows = load_index(store, clip.served_version())
    text = clip.embed_texts([query])[0]
    scores = embeddings @ text
    order = np.argsort(-scores, kind="stable")[:k]
    return [Hit(rows[i]["pair_id"], float(scores[i]), rows[i]["text"], rows[i]["image"], tuple(rows[i]["labels"]))
            for i in order]
