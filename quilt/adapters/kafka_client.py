"""How every Kafka client of the project connects: bootstrap servers plus TLS and SASL from the settings.

`kafka_security_protocol` is PLAINTEXT (the embedded broker, and the in-cluster listener behind a
NetworkPolicy), SSL, SASL_PLAINTEXT or SASL_SSL; SASL uses `kafka_sasl_mechanism` (SCRAM-SHA-512 by
default, as the k8s component's listener) with `kafka_username` / `kafka_password` (a secret:
`QUILT_KAFKA_PASSWORD_FILE` reads it from a mounted file). `kafka_ca_file` is the CA bundle that
signs the broker's certificate (empty: the system's).
"""

from __future__ import annotations

import ssl
from typing import Any

from quilt.adapters.config import Settings
from quilt.adapters.config import check_kafka_security as check


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.kafka_security_protocol.upper():
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def kafka_python_options(settings: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
    check(settings)
    protocol = settings.kafka_security_protocol.upper()
    options: dict[str, Any] = {"bootstrap_servers": bootstrap or settings.kafka}
    if protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL"):
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism.upper(),
                       sasl_plain_username=settings.kafka_username, sasl_plain_password=settings.kafka_password)
    return options


def faust_credentials(settings: Settings) -> Any:
    """faust's `broker_credentials` (None for PLAINTEXT)."""
    import faust

    check(settings)
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    mechanism = settings.kafka_sasl_mechanism.upper()
    return faust.SASLCredentials(username=settings.kafka_username, password=settings.kafka_password,
                                 mechanism=mechanism, ssl_context=ssl_context(settings))
