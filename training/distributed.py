"""One process or many under torchrun: who this process is, and the few collectives the job needs.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK. With a world of one, `Solo` answers every
collective locally, so the training loop has a single code path. With more, `Torch` joins the
process group (NCCL on GPUs, gloo on CPUs) and each rank reads the pair partitions p with
p % world == rank. Every optimiser step is taken in lockstep: the ranks agree, by one small
all-gather, on how many fresh and replayed pairs each of them trains, because the contrastive
loss gathers the same number of features from every rank.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Collective(Protocol):
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool: ...

    def all_gather(self, value: Any) -> list[Any]: ...

    def close(self) -> None: ...


@dataclass
class Solo:
    """A world of one: what every collective returns when nobody else takes part."""
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return True

    def all_gather(self, value: Any) -> list[Any]:
        return [value]

    def close(self) -> None:
        pass


class Torch:
    """A rank of a torch.distributed process group started by torchrun."""

    def __init__(self, rank: int, world_size: int, local_rank: int, timeout_s: float = 1800.0) -> None:
        import torch.distributed as dist

        self.rank = rank
        self.world_size = world_size
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            self.device = torch.device("cuda", local_rank)
            backend = "nccl"
        else:
            self.device = torch.device("cpu")
            backend = "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend, rank=rank, world_size=world_size,
                                    timeout=datetime.timedelta(seconds=timeout_s))
        self._dist = dist
        # Object collectives go over gloo even beside NCCL: they carry Python lists, not tensors.
        self._objects: Any = dist.new_group(backend="gloo") if backend == "nccl" else None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_gather(self, value: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        self._dist.all_gather_object(out, value, group=self._objects)
        return out

    def close(self) -> None:
        if self._dist.is_initialized():
            self._dist.destroy_process_group()


def from_env(env: Mapping[str, str] | None = None, device: torch.device | None = None) -> Collective:
    """`Torch` when torchrun started more than one process, else `Solo` on `device` (CUDA when present)."""
    env = os.environ if env is None else env
    world_size = int(env.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return Solo(device or torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    return Torch(int(env["RANK"]), world_size, int(env.get("LOCAL_RANK", env["RANK"])))


def owns_partition(partition: int, rank: int, world_size: int) -> bool:
    return partition % world_size == rank
