"""Checkpoints in the bucket, with lineage, written so that a kill -9 at any moment leaves a usable one.

Layout under the prefix:
  ckpt-<step>/state.pt      model, optimiser and AMP scaler tensors (loaded with weights_only=True)
  ckpt-<step>/stream.json   offsets, dedup ids, pending and held-out pairs, replay reservoir
  ckpt-<step>/lineage.json  parent checkpoint, config, offsets, counts, metrics, ids trained since the parent
  latest.json               the newest complete checkpoint: written last, so a crash before it
                            leaves the previous checkpoint in charge
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from quilt.adapters.store import ObjectStore, get_json, put_json
from quilt.core import keys
from quilt.core.keys import checkpoint_name as checkpoint_name  # the trainer imports it from here


@dataclass
class Checkpoint:
    step: int
    tensors: dict[str, Any]
    stream: dict[str, Any]
    lineage: dict[str, Any]


def save_checkpoint(store: ObjectStore, prefix: str, checkpoint: Checkpoint) -> str:
    prefix = prefix.strip("/")
    name = checkpoint_name(checkpoint.step)
    buffer = io.BytesIO()
    torch.save(checkpoint.tensors, buffer)
    store.put_bytes(keys.checkpoint_file_key(prefix, name, "state.pt"), buffer.getvalue())
    put_json(store, keys.checkpoint_file_key(prefix, name, "stream.json"), checkpoint.stream)
    put_json(store, keys.checkpoint_file_key(prefix, name, "lineage.json"), checkpoint.lineage)
    put_json(store, keys.checkpoint_latest_key(prefix), {"checkpoint": name, "step": checkpoint.step})
    return name


def latest_name(store: ObjectStore, prefix: str) -> str | None:
    key = keys.checkpoint_latest_key(prefix)
    return str(get_json(store, key)["checkpoint"]) if store.exists(key) else None


def load_checkpoint(store: ObjectStore, prefix: str, name: str | None = None) -> Checkpoint | None:
    """The named checkpoint, or the latest one; None when the prefix holds none."""
    prefix = prefix.strip("/")
    name = name or latest_name(store, prefix)
    if name is None:
        return None
    tensors = torch.load(io.BytesIO(store.get_bytes(keys.checkpoint_file_key(prefix, name, "state.pt"))),
                         map_location="cpu", weights_only=True)
    stream = get_json(store, keys.checkpoint_file_key(prefix, name, "stream.json"))
    lineage = get_json(store, keys.checkpoint_file_key(prefix, name, "lineage.json"))
    return Checkpoint(step=int(lineage["step"]), tensors=tensors, stream=stream, lineage=lineage)


def lineage_chain(store: ObjectStore, prefix: str) -> list[dict[str, Any]]:
    """Lineage records from the first checkpoint to the latest, following parent links.

    Checkpoints a killed run wrote after its last `latest.json` are not on the chain: the
    model that continued never contained their training, so they must not be counted.
    """
    prefix = prefix.strip("/")
    chain = []
    name = latest_name(store, prefix)
    while name:
        lineage = get_json(store, keys.checkpoint_file_key(prefix, name, "lineage.json"))
        chain.append(lineage)
        name = lineage.get("parent")
    return chain[::-1]


def trained_audit(store: ObjectStore, prefix: str) -> dict[str, Any]:
    """Per pass: pairs trained as fresh pairs, and how many of them were trained more than once."""
    per_pass: dict[int, Counter[str]] = {}
    for lineage in lineage_chain(store, prefix):
        for pass_number, ids in lineage.get("trained_ids", {}).items():
            per_pass.setdefault(int(pass_number), Counter()).update(ids)
    return {"passes": {p: {"trained": len(c), "double_trained": sum(1 for n in c.values() if n > 1),
                           "ids": sorted(c)} for p, c in sorted(per_pass.items())}}
