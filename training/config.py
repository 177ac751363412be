"""The training config: a TOML (or JSON) file -> TrainConfig, with clear errors for bad values.

Sections: [model] (an open_clip model name, or vision/text towers for a custom CLIP), [optim],
[stream] (replay, quality thresholds, held-out split) and [schedule]. See training/configs/.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quilt.core import keys

CONFIG_DIR = Path(__file__).parent / "configs"
AMP_MODES = ("auto", "on", "off")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ModelConfig:
    name: str = ""  # an open_clip architecture ("ViT-B-32"); empty = custom towers below
    embed_dim: int = 512
    vision: dict[str, Any] = field(default_factory=dict)  # open_clip CLIPVisionCfg fields
    text: dict[str, Any] = field(default_factory=dict)  # open_clip CLIPTextCfg fields
    pretrained: str | None = None  # open_clip tag, checkpoint path, or "hf-hub:ORG/REPO"
    allow_download: bool = False  # a tag or hub id is fetched only when this says so
    lock_image_tower: bool = False
    context_length: int = 77


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 0.2
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    batch_size: int = 1024  # pairs per optimiser step (all micro-batches together)
    grad_accum: int = 1  # micro-batches per step
    warmup_steps: int = 0  # linear warm-up of the learning rate over this many steps, then constant
    amp: str = "auto"  # auto = on when CUDA is present; never on CPU


@dataclass(frozen=True)
class StreamConfig:
    replay_fraction: float = 0.5  # share of each batch drawn from the replay reservoir
    reservoir_size: int = 200_000
    min_histo_score: float = 0.5
    min_align_score: float = 0.3
    holdout_percent: float = 2.0  # pairs whose id hashes below this are evaluated, never trained
    holdout_max: int = 5000


@dataclass(frozen=True)
class ScheduleConfig:
    eval_every_steps: int = 500
    checkpoint_every_steps: int = 200
    checkpoint_prefix: str = keys.CHECKPOINT_PREFIX
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig
    optim: OptimConfig
    stream: StreamConfig
    schedule: ScheduleConfig
    source_path: str = ""  # the file it came from, for messages and the lineage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def micro_batch(self) -> int:
        return self.optim.batch_size // self.optim.grad_accum


def resolve_config_path(name_or_path: str) -> Path:
    """`tiny` or `quiltnet-vit-b32` name a shipped config; anything else is a file path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
    raise ConfigError(f"no config file {name_or_path!r} (shipped configs: {known})")


def load_config(name_or_path: str | Path) -> TrainConfig:
    path = resolve_config_path(str(name_or_path))
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, Any], source: str = "<dict>") -> TrainConfig:
    unknown = set(raw) - {"model", "optim", "stream", "schedule"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; expected model, optim, stream, schedule")
    model = _section(ModelConfig, raw.get("model", {}), "model", source)
    optim = _section(OptimConfig, raw.get("optim", {}), "optim", source)
    stream = _section(StreamConfig, raw.get("stream", {}), "stream", source)
    schedule = _section(ScheduleConfig, raw.get("schedule", {}), "schedule", source)
    config = TrainConfig(model=model, optim=optim, stream=stream, schedule=schedule, source_path=source)
    _validate(config, source)
    return config


def _section(cls: Any, values: Any, name: str, source: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    known = set(cls.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) in [{name}]: {sorted(unknown)}; known: {sorted(known)}")
    values = dict(values)
    if "betas" in values:
        betas = values["betas"]
        if not (isinstance(betas, list | tuple) and len(betas) == 2):
            raise ConfigError(f"{source}: optim.betas must be two numbers, got {betas!r}")
        values["betas"] = (float(betas[0]), float(betas[1]))
    if values.get("pretrained") == "":
        values["pretrained"] = None
    return cls(**values)


def _validate(config: TrainConfig, source: str) -> None:
    def fail(message: str) -> None:
        raise ConfigError(f"{source}: {message}")

    m, o, s, sc = config.model, config.optim, config.stream, config.schedule
    if not m.name and not (m.vision and m.text):
        fail("[model] needs either name (an open_clip architecture) or both [model.vision] and [model.text]")
    if not (math.isfinite(o.lr) and o.lr > 0):
        fail(f"optim.lr must be a number above 0, got {o.lr!r}")
    if o.weight_decay < 0:
        fail(f"optim.weight_decay must be at least 0, got {o.weight_decay!r}")
    if not all(0 <= b < 1 for b in o.betas):
        fail(f"optim.betas must lie in [0, 1), got {o.betas!r}")
    if o.batch_size < 2:
        fail(f"optim.batch_size must be at least 2 (a contrastive loss needs negatives), got {o.batch_size}")
    if o.grad_accum < 1 or o.batch_size % o.grad_accum:
        fail(f"optim.grad_accum must be >= 1 and divide batch_size {o.batch_size}, got {o.grad_accum}")
    if o.warmup_steps < 0:
        fail(f"optim.warmup_steps must be at least 0, got {o.warmup_steps}")
    if o.amp not in AMP_MODES:
        fail(f"optim.amp must be one of {AMP_MODES}, got {o.amp!r}")
    if not 0 <= s.replay_fraction < 1:
        fail(f"stream.replay_fraction must lie in [0, 1), got {s.replay_fraction!r}")
    if s.reservoir_size < 0:
        fail(f"stream.reservoir_size must be at least 0, got {s.reservoir_size}")
    if not 0 <= s.holdout_percent < 100:
        fail(f"stream.holdout_percent must lie in [0, 100), got {s.holdout_percent!r}")
    if sc.eval_every_steps < 1 or sc.checkpoint_every_steps < 1:
        fail("schedule.eval_every_steps and schedule.checkpoint_every_steps must be at least 1")
    if not sc.checkpoint_prefix.strip("/"):
        fail("schedule.checkpoint_prefix must not be empty")
