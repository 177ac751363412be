"""The configured S3 bucket, and one readable line when it (or the broker) cannot be reached.

Shared by the `quilt` commands and the training jobs, so neither has to import the other.
"""

from __future__ import annotations

from quilt.adapters.config import Settings, load_settings
from quilt.adapters.store import S3Store


def configured_bucket(settings: Settings) -> S3Store:
    """The bucket the settings name (QUILT_S3_* or quilt.toml), for code that reads or writes it directly."""
    return S3Store(settings.s3, settings.s3_access_key, settings.s3_secret_key, settings.bucket,
                   secure=settings.s3_secure)


def unreachable_hint(err: Exception) -> str | None:
    """A readable message when the S3 store or the broker cannot be reached, else None."""
    # Imported here: the clients are slow to import and most callers never get this far.
    from kafka.errors import KafkaTimeoutError
    from urllib3.exceptions import MaxRetryError

    settings = load_settings()
    if isinstance(err, MaxRetryError):
        return f"cannot reach the S3 store at {settings.s3}: is the stack up? (`quilt stack up`)"
    if isinstance(err, KafkaTimeoutError):
        return f"cannot reach the Kafka broker at {settings.kafka}: is the stack up? (`quilt stack up`)"
    return None
