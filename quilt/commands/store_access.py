"""The configured bucket, for commands that read or write it directly."""

from __future__ import annotations

from quilt.config import Settings
from quilt.store import S3Store


def bucket(settings: Settings) -> S3Store:
    return S3Store(settings.s3, settings.s3_access_key, settings.s3_secret_key, settings.bucket,
                   secure=settings.s3_secure)
