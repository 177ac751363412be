"""Promote a training checkpoint to a new version of the `clip` model that Triton serves.

A checkpoint is promoted only when its held-out metric (lineage `metrics[metric]`) is strictly better
than the promoted one's. Promotion writes `<repository>/clip/<N>/` (N = previous version + 1) with
`model.py` (triton_models/clip/model_template.py), `weights.pt` (the model's state dict) and `clip.json`
(the model config and the checkpoint's name), refreshes `<repository>/clip/config.pbtxt`, asks a running
Triton (explicit model control) to `load` "clip" -- it then serves the new version without a restart --
and records the promotion in `<prefix>/promoted.json` in the store:
  {"version": N, "checkpoint": "ckpt-...", "metric": "zero_shot_acc", "metrics": {...}, "history": [...]}
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.core import keys
from quilt.stack.locations import model_repository

from .checkpoint import latest_name, load_checkpoint
from .train import open_bucket

MODEL_NAME = "clip"
TEMPLATE_DIR = model_repository() / MODEL_NAME
DEFAULT_METRIC = "zero_shot_acc"


class PromotionError(RuntimeError):
    pass


@dataclass
class Decision:
    promoted: bool
    reason: str
    checkpoint: str
    metric: str
    value: float | None
    current_value: float | None = None
    version: int | None = None  # the new version when promoted
    current_version: int | None = None
    loaded: bool = False  # Triton was asked to load it and did
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def promoted_record(store: ObjectStore, prefix: str) -> dict[str, Any] | None:
    key = keys.promoted_key(prefix)
    return get_json(store, key) if store.exists(key) else None


def _metric_value(metrics: dict[str, Any], metric: str) -> float | None:
    value = metrics.get(metric)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _existing_versions(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def write_version(repository: Path, version: int, state: dict[str, torch.Tensor], model_config: dict[str, Any],
                  checkpoint: str, metrics: dict[str, float]) -> Path:
    """Write `repository/clip/<version>/` (written to a temp folder, then renamed into place) and config.pbtxt."""
    model_dir = Path(repository) / MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    config_src = TEMPLATE_DIR / "config.pbtxt"
    if (model_dir / "config.pbtxt").resolve() != config_src.resolve():
        shutil.copy2(config_src, model_dir / "config.pbtxt")
    final = model_dir / str(version)
    if final.exists():
        raise PromotionError(f"{final} already exists")
    tmp = model_dir / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy2(TEMPLATE_DIR / "model_template.py", tmp / "model.py")
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    (tmp / "weights.pt").write_bytes(buffer.getvalue())
    (tmp / "clip.json").write_text(json.dumps({"model": model_config, "checkpoint": checkpoint,
                                               "metrics": metrics, "version": version}, indent=1))
    tmp.rename(final)
    return final


def load_in_triton(triton_url: str, timeout_s: float = 120.0) -> None:
    """Model control `load` of "clip": the server re-reads the repository and serves the newest version."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(triton_url)
    try:
        client.load_model(MODEL_NAME, client_timeout=timeout_s)
    except InferenceServerException as exc:
        raise PromotionError(f"Triton at {triton_url} could not load {MODEL_NAME!r}: {exc}") from exc
    finally:
        client.close()


def promote(store: ObjectStore, prefix: str, checkpoint_name: str | None, repository: Path,
            triton_url: str | None = None, metric: str = DEFAULT_METRIC) -> Decision:
    """Promote `checkpoint_name` (None: the latest) if its `metric` strictly beats the promoted checkpoint's."""
    prefix = prefix.strip("/")
    name = checkpoint_name or latest_name(store, prefix)
    if name is None:
        raise PromotionError(f"no checkpoint under {prefix!r}")
    checkpoint = load_checkpoint(store, prefix, name)
    if checkpoint is None:
        raise PromotionError(f"checkpoint {prefix}/{name} not found")
    metrics = {k: float(v) for k, v in checkpoint.lineage.get("metrics", {}).items()}
    value = _metric_value(metrics, metric)
    current = promoted_record(store, prefix)
    current_value = _metric_value(current.get("metrics", {}), metric) if current else None
    current_version = int(current["version"]) if current else None
    current_name = str(current.get("checkpoint")) if current else None
    decision = Decision(False, "", name, metric, value, current_value, None, current_version, False, metrics)
    if value is None:
        decision.reason = f"{name} has no held-out {metric!r} in its lineage metrics"
        return decision
    if current_name == name:
        decision.reason = f"{name} is already promoted as version {current_version}"
        return decision
    if current_value is not None and not value > current_value:
        decision.reason = (f"{metric} {value:.4f} of {name} does not beat {current_value:.4f} of the promoted "
                           f"{current_name} (version {current_version})")
        return decision
    model_dir = Path(repository) / MODEL_NAME
    version = max([current_version or 0, *_existing_versions(model_dir)]) + 1
    model_config = dict(checkpoint.lineage["config"]["model"])
    write_version(repository, version, checkpoint.tensors["model"], model_config, name, metrics)
    if triton_url:
        load_in_triton(triton_url)
        decision.loaded = True
    history = list(current.get("history", [])) if current else []
    history.append({"version": version, "checkpoint": name, metric: value, "at": time.time()})
    put_json(store, keys.promoted_key(prefix), {"version": version, "checkpoint": name, "metric": metric,
                                                 "metrics": metrics, "promoted_at": time.time(), "history": history})
    decision.promoted, decision.version = True, version
    decision.reason = (f"{metric} {value:.4f} beats {current_value:.4f}" if current_value is not None
                       else f"first promotion ({metric} {value:.4f})")
    return decision


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", metavar="DIR",
                        help="a local folder used as the bucket; default: the configured stack's bucket (S3)")
    parser.add_argument("--prefix", required=True, help="the checkpoint prefix in the bucket (ckpt/...)")
    parser.add_argument("--checkpoint", help="checkpoint name (ckpt-000000123); default: the latest")
    parser.add_argument("--repository", default=str(TEMPLATE_DIR.parent), help="Triton model repository folder")
    parser.add_argument("--triton-url", help="host:port of Triton gRPC; when given, the new version is loaded live")
    parser.add_argument("--metric", default=DEFAULT_METRIC, help=f"held-out metric to beat (default {DEFAULT_METRIC})")
    args = parser.parse_args(argv)
    try:
        store = open_bucket(args.bucket)
        decision = promote(store, args.prefix, args.checkpoint, Path(args.repository),
                           args.triton_url, args.metric)
    except PromotionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - an unreachable store gets quilt's one clear line, not a traceback
        from quilt.adapters.bucket import unreachable_hint

        hint = unreachable_hint(exc)
        if hint is None:
            raise
        print(f"error: {hint}", file=sys.stderr)
        return 3
    print(json.dumps(decision.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
