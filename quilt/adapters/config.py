"""One typed settings object, read from the environment or a TOML file.

Precedence: environment (QUILT_<FIELD>) > config file (QUILT_CONFIG, else
./quilt.toml if present) > safe local defaults. Everything defaults to loopback.
Secrets (SECRET_FIELDS) can also come from files: QUILT_<FIELD>_FILE names a file whose content
is the value (a mounted Kubernetes Secret). A Settings object never prints a secret: its repr
masks them, so logging the settings is safe.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

SERVICES = ("fetcher", "decoder", "asr", "denoiser", "histo_filter", "aligner")
SECRET_FIELDS = ("s3_access_key", "s3_secret_key", "llm_api_key", "kafka_password")


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start-up, never later."""


@dataclass(frozen=True, repr=False)
class Settings:
    data_dir: Path = Path.home() / ".local" / "share" / "quilt"
    host: str = "127.0.0.1"
    s3_port: int = 19000
    s3_endpoint: str = ""  # host:port; empty = the embedded store on host:s3_port
    s3_access_key: str = "quilt"
    s3_secret_key: str = "quilt-local-secret"
    s3_secure: bool = False
    bucket: str = "quilt"
    broker_bucket: str = "quilt-broker"
    kafka_port: int = 19092
    kafka_bootstrap: str = ""  # empty = the embedded broker on host:kafka_port
    kafka_security_protocol: str = "PLAINTEXT"  # SSL, SASL_PLAINTEXT or SASL_SSL (see quilt/adapters/kafka_client.py)
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: str = ""  # a secret: QUILT_KAFKA_PASSWORD_FILE reads it from a file
    kafka_ca_file: str = ""  # CA bundle for the broker's certificate; empty = the system's
    topic_prefix: str = "quilt."
    topic_partitions: int = 1  # raise it to scale a stage past one consumer
    triton_grpc_port: int = 18001
    triton_http_port: int = 18000
    triton_metrics_port: int = 18002
    triton_url: str = ""  # host:port of Triton's gRPC endpoint; empty = embedded
    grpc_base_port: int = 50061  # service i listens on grpc_base_port + i
    metrics_base_port: int = 9161  # Prometheus metrics of service i on metrics_base_port + i
    asr_prompt: str = ""  # Whisper's initial prompt; empty = the project's domain vocabulary, "none" = no prompt
    asr_overlap_s: float = 2.0  # audio shared by consecutive ASR windows, merged at the seam
    # Beam width for hearing again a sentence that lost every histopathology term (quilt/stages/asr/term_rescue.py);
    # 0 = never. Costs a second decode of those sentences only.
    asr_rescue_beam: int = 5
    # Read each key frame's text with Tesseract (quilt/stages/common/screen_text.py): the slides' terms steer
    # Whisper and the denoiser, and the pair record keeps the text. A failed OCR only loses that text.
    ocr_enabled: bool = True
    ocr_timeout_s: float = 10.0  # per key frame
    llm_base_url: str = ""  # an OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama); empty = lexicon only
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 20.0
    histo_threshold: float = 0.5
    histo_model: str = "embedded"  # "embedded", a .json from scripts/train_histo.py, or "module:factory"
    pair_pad_s: float = 1.0
    pair_max_lag_s: float = 2.0  # the narrator's per-video lag is estimated within +-this; 0 = no lag model
    pair_max_words: int = 60  # an image's text is split into pairs of at most this many words
    pair_dedup_jaccard: float = 0.8  # same image and texts this similar (word pairs): one pair is dropped
    # A sentence is ended at an unpunctuated pause that a picture change falls within this many seconds of
    # (quilt/stages/align/break_at_changes.py: Whisper's lost full stops); negative = never.
    pair_break_tolerance_s: float = 0.6
    # http(s) sources may use these non-public IPs / CIDR blocks / host names ("*.example.org"), comma-separated.
    fetch_allow: str = ""  # empty = public addresses only (also for the embedded stack)
    # Folders the fetcher may read local file sources from (comma-separated); "*" = anywhere (the
    # embedded stack: `quilt submit ./lecture.mp4`), "" = no local files (Kubernetes: uploads go via s3://).
    local_source_roots: str = "*"
    max_bytes: int = 8 * 1024**3  # media limits; 0 = none
    max_duration_s: float = 4 * 3600.0
    max_pixels: int = 3840 * 2160
    max_fps: float = 60.0
    non_english: str = "flag"  # narration judged not English: "flag" (status notes it) or "skip" (dead-lettered)
    max_message_bytes: int = 4 * 1024 * 1024  # a bigger input message is dead-lettered as oversized_message
    poll_interval_s: float = 60.0
    service_workers: int = 1

    @property
    def s3(self) -> str:
        return self.s3_endpoint or f"{self.host}:{self.s3_port}"

    @property
    def kafka(self) -> str:
        return self.kafka_bootstrap or f"{self.host}:{self.kafka_port}"

    @property
    def triton(self) -> str:
        return self.triton_url or f"{self.host}:{self.triton_grpc_port}"

    def service_grpc_port(self, service: str) -> int:
        return self.grpc_base_port + SERVICES.index(service)

    def service_metrics_port(self, service: str) -> int:
        return self.metrics_base_port + SERVICES.index(service)

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def __repr__(self) -> str:
        def value(name: str) -> str:
            return "'***'" if name in SECRET_FIELDS and getattr(self, name) else repr(getattr(self, name))

        shown = (f"{f.name}={value(f.name)}" for f in fields(self))
        return f"Settings({', '.join(shown)})"

    def as_env(self) -> dict[str, str]:
        """The settings as QUILT_* variables, to hand to child processes."""
        return {f"QUILT_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return text in ("1", "true", "yes")
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path"):
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}: cannot read {raw!r} as {getattr(kind, '__name__', kind)}") from None


def load_settings(env: dict[str, str] | None = None, config_file: Path | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    path = config_file or (Path(env["QUILT_CONFIG"]) if env.get("QUILT_CONFIG") else Path("quilt.toml"))
    values: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(Settings)}
    if path.is_file():
        data = tomllib.loads(path.read_text())
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
        values.update({k: _coerce(k, known[k], v) for k, v in data.items()})
    elif config_file is not None or env.get("QUILT_CONFIG"):
        raise ConfigError(f"config file not found: {path}")
    for name, kind in known.items():
        raw = env.get(f"QUILT_{name.upper()}")
        secret_file = env.get(f"QUILT_{name.upper()}_FILE") if name in SECRET_FIELDS else None
        if secret_file and not raw:
            try:
                raw = Path(secret_file).read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigError(f"QUILT_{name.upper()}_FILE={secret_file}: cannot read it ({err.strerror})") from None
        if raw is not None and raw != "":
            values[name] = _coerce(name, kind, raw)
    settings = replace(Settings(), **values)
    if not 0.0 <= settings.histo_threshold <= 1.0:
        raise ConfigError("histo_threshold must be between 0 and 1")
    if settings.non_english not in ("flag", "skip"):
        raise ConfigError(f"non_english must be 'flag' or 'skip', got {settings.non_english!r}")
    if settings.max_message_bytes < 1024:
        raise ConfigError("max_message_bytes must be at least 1024")
    from quilt.stages.common.allowlist import Allowlist, parse_allow

    try:
        Allowlist.parse(parse_allow(settings.fetch_allow))
    except ValueError as err:
        raise ConfigError(f"fetch_allow: {err}") from None
    check_kafka_security(settings)
    if min(settings.max_bytes, settings.max_duration_s, settings.max_pixels, settings.max_fps) < 0:
        raise ConfigError("max_bytes, max_duration_s, max_pixels and max_fps must be >= 0 (0 = no limit)")
    if not 0 < settings.ocr_timeout_s <= 300:
        raise ConfigError("ocr_timeout_s must be above 0 and at most 300 seconds")
    if not 0 <= settings.asr_rescue_beam <= 20:
        raise ConfigError("asr_rescue_beam must be between 0 (no rescue) and 20")
    if settings.pair_max_words < 1 or settings.pair_max_lag_s < 0 or not 0.0 <= settings.pair_dedup_jaccard <= 1.0:
        raise ConfigError("pair_max_words must be >= 1, pair_max_lag_s >= 0, pair_dedup_jaccard in [0, 1]")
    if settings.pair_break_tolerance_s > 2.0:
        raise ConfigError("pair_break_tolerance_s must be at most 2 seconds (negative turns sentence cutting off)")
    return settings


PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def check_kafka_security(settings: Settings) -> None:
    """ConfigError for a protocol, mechanism or missing credential that no client could use."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"kafka_security_protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol.startswith("SASL"):
        if settings.kafka_sasl_mechanism.upper() not in MECHANISMS:
            raise ConfigError(f"kafka_sasl_mechanism must be one of {MECHANISMS}, "
                              f"got {settings.kafka_sasl_mechanism!r}")
        if not settings.kafka_username or not settings.kafka_password:
            raise ConfigError(f"kafka_security_protocol {protocol} needs kafka_username and kafka_password "
                              "(QUILT_KAFKA_PASSWORD_FILE for a mounted secret)")
