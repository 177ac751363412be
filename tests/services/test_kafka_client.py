"""Kafka connection options from the settings: plain for the embedded broker, TLS and SASL for a cluster.

No SASL broker runs here (the embedded Tansu listener is plain), so these tests check the options each
client library is given; the k8s component kafka-tls-scram provides the listener they are for.
"""

from __future__ import annotations

import ssl
from dataclasses import replace
from pathlib import Path

import faust
import pytest

from quilt.adapters.config import ConfigError, Settings, load_settings
from quilt.adapters.kafka_client import faust_credentials, kafka_python_options


def test_plain_is_the_default_and_adds_nothing() -> None:
    settings = Settings()
    assert kafka_python_options(settings) == {"bootstrap_servers": settings.kafka}
    assert faust_credentials(settings) is None


def test_sasl_ssl_gives_scram_credentials_and_a_tls_context(tmp_path: Path) -> None:
    password = tmp_path / "kafka-password"
    password.write_text("s3cr3t-scram\n")
    settings = load_settings({"QUILT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "QUILT_KAFKA_USERNAME": "quilt-aligner",
                              "QUILT_KAFKA_PASSWORD_FILE": str(password),
                              "QUILT_KAFKA_BOOTSTRAP": "kafka.example:9093"})
    options = kafka_python_options(settings)
    assert options["bootstrap_servers"] == "kafka.example:9093" and options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "quilt-aligner", "s3cr3t-scram")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials) and credentials.username == "quilt-aligner"
    assert "s3cr3t-scram" not in repr(settings)


def test_tls_only_and_bad_settings() -> None:
    tls = replace(Settings(), kafka_security_protocol="SSL")
    assert kafka_python_options(tls)["security_protocol"] == "SSL" and "sasl_mechanism" not in kafka_python_options(tls)
    assert isinstance(faust_credentials(tls), faust.SSLCredentials)
    with pytest.raises(ConfigError, match="needs kafka_username and kafka_password"):
        load_settings({"QUILT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    with pytest.raises(ConfigError, match="kafka_security_protocol must be one of"):
        load_settings({"QUILT_KAFKA_SECURITY_PROTOCOL": "KERBEROS"})
    with pytest.raises(ConfigError, match="kafka_sasl_mechanism must be one of"):
        load_settings({"QUILT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "QUILT_KAFKA_USERNAME": "u",
                       "QUILT_KAFKA_PASSWORD": "p", "QUILT_KAFKA_SASL_MECHANISM": "GSSAPI"})
