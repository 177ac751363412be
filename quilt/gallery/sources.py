"""Where the gallery reads pairs and their images: the bucket, or a `quilt process` folder.

Both are read afresh on every call, so a served page shows the pairs that exist now.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from quilt.adapters.store import ObjectStore, get_json
from quilt.adapters.writers import read_pairs_jsonl
from quilt.core import keys
from quilt.core.records import PairRecord

# Record reads from S3 are small round trips; a few in flight keep a page load short.
_PARALLEL_READS = 8


class PairSource(Protocol):
    description: str

    def records(self) -> list[PairRecord]: ...

    def image_bytes(self, record: PairRecord) -> bytes: ...


class BucketSource:
    """Pair records under `prefix` (one JSON object each); `record.image` is an object key."""

    def __init__(self, store: ObjectStore, prefix: str = keys.PAIR_RECORDS_PREFIX) -> None:
        self.store = store
        self.prefix = prefix
        self.description = "the bucket"

    def _read(self, key: str) -> PairRecord | None:
        try:
            return PairRecord.from_dict(get_json(self.store, key))
        except (KeyError, ValueError, TypeError):
            # Deleted between list and get, or not a pair record: one bad object must not blank the page.
            return None

    def records(self) -> list[PairRecord]:
        keys = [key for key in self.store.list(self.prefix) if key.endswith(".json")]
        with ThreadPoolExecutor(_PARALLEL_READS) as pool:
            return [record for record in pool.map(self._read, keys) if record is not None]

    def image_bytes(self, record: PairRecord) -> bytes:
        return self.store.get_bytes(record.image)


class FolderSource:
    """`folder/pairs.jsonl` and the images it names, relative to the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.description = str(folder)

    def records(self) -> list[PairRecord]:
        path = self.folder / "pairs.jsonl"
        if not path.exists():  # a `quilt process` that has not written its first pair yet
            return []
        return read_pairs_jsonl(path, skip_bad=True)

    def image_bytes(self, record: PairRecord) -> bytes:
        path = (self.folder / record.image).resolve()
        if self.folder.resolve() not in path.parents:
            raise KeyError(f"image outside the folder: {record.image!r}")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyError(record.image) from None

