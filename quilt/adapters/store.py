"""Object storage: an S3 bucket for the services, a folder for `quilt process`.

Stages never talk to S3 themselves; they are handed an `ObjectStore`.

Keys are built from message fields (video ids, object and image keys), so every store checks
each key with `check_key` before touching anything: a key that would climb out of the bucket's
folder or alias another object raises `BadKey`, a StageError("bad_key"), which the service runtime
dead-letters at once instead of retrying.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from quilt.core.types import StageError

MAX_KEY_BYTES = 1024  # S3's limit on an object name, in UTF-8 bytes


class BadKey(StageError, ValueError):
    """An object key that is refused: empty, absolute, with `..`/`.`/empty segments, backslashes,
    control characters, or longer than MAX_KEY_BYTES. A StageError ("bad_key"): the input's fault."""

    def __init__(self, key: object, why: str) -> None:
        shown = repr(key) if len(repr(key)) <= 120 else repr(key)[:117] + "..."
        super().__init__("bad_key", f"refusing object key {shown}: {why}")
        self.key = key


def _key_problem(key: object, prefix: bool) -> str | None:
    if not isinstance(key, str):
        return f"a key is a string, not {type(key).__name__}"
    if not key:
        return None if prefix else "empty"
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    if key.startswith("/"):
        return "absolute (starts with /)"
    if "\\" in key:
        return "contains a backslash"
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in key):
        return "contains a control character"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in key):
        return "contains an unpaired surrogate (not UTF-8)"
    segments = key.split("/")
    if prefix and segments[-1] == "":
        segments = segments[:-1]  # "videos/" lists a folder
    for segment in segments:
        if segment == "..":
            return "contains a '..' segment"
        if segment == ".":
            return "contains a '.' segment"
        if segment == "":
            return "contains an empty segment ('//' or a trailing '/')"
    return None


def check_key(key: str) -> str:
    """The key itself if it is a safe object key; raises BadKey otherwise."""
    if (why := _key_problem(key, prefix=False)) is not None:
        raise BadKey(key, why)
    return key


def check_prefix(prefix: str) -> str:
    """Like check_key for a listing prefix: empty (everything) and a trailing "/" are allowed."""
    if (why := _key_problem(prefix, prefix=True)) is not None:
        raise BadKey(prefix, why)
    return prefix


class ObjectStore(Protocol):
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def get_file(self, key: str, path: Path) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...


def put_json(store: ObjectStore, key: str, value: Any) -> None:
    store.put_bytes(key, json.dumps(value, sort_keys=True).encode("utf-8"), "application/json")


def get_json(store: ObjectStore, key: str) -> Any:
    return json.loads(store.get_bytes(key))


class LocalStore:
    """A folder that behaves like a bucket; keys are relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()

    def _path(self, key: str) -> Path:
        check_key(key)
        # Defence in depth: symlinks inside the folder must not lead out of it either.
        path = (self._real_root / key).resolve()
        if self._real_root not in path.parents:
            raise BadKey(key, "resolves outside the store's folder")
        return path

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half an object

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        self.put_bytes(key, Path(path).read_bytes(), content_type)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def get_file(self, key: str, path: Path) -> None:
        data = self.get_bytes(key)  # checks the key before the destination is created
        Path(path).write_bytes(data)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith(".part"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """A bucket on MinIO, AWS S3 or the embedded localbucket server."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str,
                 secure: bool = False, region: str = "us-east-1") -> None:
        from minio import Minio

        # A fixed region stops the SDK from calling GetBucketLocation, which
        # small S3 servers (localbucket) do not implement.
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                            secure=secure, region=region)
        self.bucket = bucket

    def ensure_bucket(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        check_key(key)
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        check_key(key)
        self.client.fput_object(self.bucket, key, str(path), content_type=content_type)

    def get_bytes(self, key: str) -> bytes:
        from minio.error import S3Error

        check_key(key)
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchObject"):
                raise KeyError(key) from None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def get_file(self, key: str, path: Path) -> None:
        check_key(key)
        self.client.fget_object(self.bucket, key, str(path))

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        check_key(key)
        try:
            self.client.stat_object(self.bucket, key)
            return True
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if obj.object_name is not None:
                yield obj.object_name

    def delete(self, key: str) -> None:
        check_key(key)
        self.client.remove_object(self.bucket, key)
