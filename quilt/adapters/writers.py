"""Where finished pairs go: a folder with `pairs.jsonl`, or WebDataset shards in a bucket.

Both writers are safe to rerun on the same input: pair ids and shard names
are deterministic, so a retry replaces earlier output instead of adding to it.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from quilt.adapters.store import ObjectStore
from quilt.core import keys
from quilt.core.records import (
    NUMBER_FIELDS,
    PAIR_FIELDS,
    STRING_FIELDS,
    STRING_LIST_FIELDS,
    STRING_MAP_FIELDS,
    PairRecord,
)


class PairWriter(Protocol):
    def write(self, record: PairRecord, image_jpeg: bytes) -> None: ...

    def close(self) -> None: ...


class _ContextMixin:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _record_line(record: PairRecord) -> str:
    return json.dumps({name: getattr(record, name) for name in PAIR_FIELDS}, ensure_ascii=False)


def read_pairs_jsonl(path: Path, skip_bad: bool = False) -> list[PairRecord]:
    """The records of a `pairs.jsonl`, in file order.

    A line that is not a pair record raises ValueError naming its line number, unless
    `skip_bad`: a reader watching a folder that `quilt process` is still writing may catch
    the writer halfway through its last line.
    """
    records: list[PairRecord] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(PairRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError, AttributeError) as err:
                if not skip_bad:
                    raise ValueError(f"{path} line {number} is not a pair record: {err}") from None
    return records


_FILE_NAME = re.compile(r"[A-Za-z0-9_-]+")


class JsonlPairWriter(_ContextMixin):
    """`out_dir/pairs.jsonl` plus `out_dir/images/<image_id>.jpg`; `image` is relative to the jsonl.

    The several texts of one image share its file, written by the first of them (atomically, so
    a file that exists is whole); a record without an image_id (older producers) gets
    `images/<pair_id>.jpg`.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.images_dir = self.out_dir / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "pairs.jsonl"
        self.seen: set[str] = set()
        if self.path.exists():
            self._load_existing()
        self._handle = self.path.open("a", encoding="utf-8")

    def _load_existing(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # A run killed mid-line left half a record; drop it so the next append starts clean.
            data = data[: data.rfind(b"\n") + 1]
            self.path.write_bytes(data)
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                self.seen.add(json.loads(line)["pair_id"])

    def write(self, record: PairRecord, image_jpeg: bytes) -> None:
        stem = record.image_id if _FILE_NAME.fullmatch(record.image_id) else record.pair_id
        relative = f"images/{stem}.jpg"
        image_path = self.out_dir / relative
        if not image_path.exists():  # an image is written once: later texts of it (other videos') share the file
            tmp = image_path.with_name(image_path.name + ".part")
            tmp.write_bytes(image_jpeg)
            tmp.replace(image_path)  # the image lands before the line that points at it
        if record.pair_id not in self.seen:
            self._handle.write(_record_line(replace(record, image=relative)) + "\n")
            self._handle.flush()
            self.seen.add(record.pair_id)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()


_STRING_FIELDS = (*STRING_FIELDS, "shard", "member")


def _index_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The Parquet index; pyarrow is imported here so the jsonl path never needs it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [*PAIR_FIELDS, "shard", "member"]
    types = {**dict.fromkeys(_STRING_FIELDS, pa.string()), **dict.fromkeys(NUMBER_FIELDS, pa.float64()),
             **dict.fromkeys(STRING_LIST_FIELDS, pa.list_(pa.string())),
             **dict.fromkeys(STRING_MAP_FIELDS, pa.map_(pa.string(), pa.string())),
             "entities": pa.list_(pa.struct([("text", pa.string()), ("category", pa.string())])),
             "crop": pa.list_(pa.int32())}
    schema = pa.schema([(name, types[name]) for name in names])
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in names}
    for name in STRING_MAP_FIELDS:
        columns[name] = [list(m.items()) for m in columns[name]]
    out = io.BytesIO()
    pq.write_table(pa.table(columns, schema=schema), out)
    return out.getvalue()


class WebDatasetShardWriter(_ContextMixin):
    """WebDataset tar shards (`<key>.jpg/.txt/.json`, key = pair_id) and a Parquet index of them.

    Shards are `{prefix}/shards/{shard_name}-00000.tar`, ...; the index is
    `{prefix}/index/{shard_name}.parquet` (both named in quilt/core/keys.py), written on
    close with one row per pair plus the `shard` key and the image `member` name. Shard contents are
    byte-identical for identical input (fixed member metadata), and on close any
    higher-numbered shards left by an earlier, longer run of the same name are removed.
    """

    def __init__(self, store: ObjectStore, prefix: str, shard_name: str, max_pairs: int = 1000) -> None:
        if max_pairs < 1:
            raise ValueError("max_pairs must be at least 1")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", shard_name):
            raise ValueError(f"shard name must be a plain file name: {shard_name!r}")
        self.store = store
        self.prefix = prefix.strip("/")
        self.shard_name = shard_name
        self.max_pairs = max_pairs
        self.rows: list[dict[str, Any]] = []
        self.shard_keys: list[str] = []
        self._seen: set[str] = set()
        self._buffer: io.BytesIO | None = None
        self._tar: tarfile.TarFile | None = None
        self._in_shard = 0
        self._closed = False

    def _shard_key(self, index: int) -> str:
        return keys.shard_key(self.shard_name, index, self.prefix)

    def write(self, record: PairRecord, image_jpeg: bytes) -> None:
        if self._closed:
            raise ValueError("writer is closed")
        if record.pair_id in self._seen:
            return  # a duplicate member name would make the tar ambiguous
        if "." in record.pair_id or "/" in record.pair_id:
            raise ValueError(f"pair id cannot be a WebDataset key: {record.pair_id!r}")
        if self._tar is None:
            self._buffer = io.BytesIO()
            self._tar = tarfile.open(fileobj=self._buffer, mode="w", format=tarfile.USTAR_FORMAT)
        key = record.pair_id
        meta = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")
        for suffix, payload in ((".jpg", image_jpeg), (".txt", record.text.encode("utf-8")), (".json", meta)):
            info = tarfile.TarInfo(key + suffix)
            info.size, info.mode, info.mtime = len(payload), 0o644, 0  # fixed: retries give the same bytes
            self._tar.addfile(info, io.BytesIO(payload))
        row = record.to_dict()
        row.update(shard=self._shard_key(len(self.shard_keys)), member=key + ".jpg")
        self.rows.append(row)
        self._seen.add(key)
        self._in_shard += 1
        if self._in_shard >= self.max_pairs:
            self._flush()

    def _flush(self) -> None:
        if self._tar is None or self._buffer is None:
            return
        self._tar.close()
        key = self._shard_key(len(self.shard_keys))
        self.store.put_bytes(key, self._buffer.getvalue(), "application/x-tar")
        self.shard_keys.append(key)
        self._tar, self._buffer, self._in_shard = None, None, 0

    def _remove_stale_shards(self) -> None:
        written = set(self.shard_keys)
        for key in list(self.store.list(keys.shards_folder(self.prefix) + self.shard_name + "-")):
            if keys.is_shard_of(key, self.shard_name, self.prefix) and key not in written:
                self.store.delete(key)

    def close(self) -> None:
        if self._closed:
            return
        self._flush()
        self._remove_stale_shards()
        self.store.put_bytes(keys.shard_index_key(self.shard_name, self.prefix), _index_parquet(self.rows),
                             "application/vnd.apache.parquet")
        self._closed = True
