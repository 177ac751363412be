"""One optimiser step of contrastive CLIP training: AdamW with linear warm-up, gradient accumulation,
AMP on CUDA only, and DistributedDataParallel when torchrun started several ranks.

Distributed, the loss is open_clip's with features gathered from every rank (gather_with_grad,
local_loss), so each rank's pairs are contrasted against the whole global batch, as in open_clip's
own distributed training; DDP then averages the gradients.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import open_clip  # type: ignore[import-untyped]
import torch

from .config import OptimConfig
from .distributed import Collective

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the temperature so logits stay below 100


def amp_enabled(mode: str, device: torch.device) -> bool:
    return device.type == "cuda" and mode in ("auto", "on")


class ContrastiveTrainer:
    def __init__(self, model: torch.nn.Module, config: OptimConfig, device: torch.device,
                 collective: Collective | None = None) -> None:
        self.model = model.to(device)  # the bare model: evaluation, state dicts, promotion
        self.config = config
        self.device = device
        self.world_size = collective.world_size if collective else 1
        self.forward: torch.nn.Module = self.model  # what training calls: the DDP wrapper when distributed
        # No weight decay on gains, biases and the temperature (as in open_clip's training script).
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue  # a locked image tower
            is_gain_or_bias = param.ndim < 2 or "bn" in name or "ln" in name or "bias" in name
            (no_decay if is_gain_or_bias or "logit_scale" in name else decay).append(param)
        self.optimizer = torch.optim.AdamW(
            [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": config.weight_decay}],
            lr=config.lr, betas=config.betas, eps=config.eps)
        warmup = config.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0)
        self.amp = amp_enabled(config.amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        if collective is not None and collective.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            # open_clip 3.3 gathers features with a torch call that torch 2.x marks deprecated, every step.
            warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_gather is deprecated",
                                    category=FutureWarning)

            self.forward = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda"
                                                   else None)
            self.loss_fn = open_clip.ClipLoss(local_loss=True, gather_with_grad=True, rank=collective.rank,
                                              world_size=collective.world_size)
        else:
            self.loss_fn = open_clip.ClipLoss()

    def _autocast(self) -> Any:
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def step(self, images: torch.Tensor, tokens: torch.Tensor) -> float:
        """One optimiser step over the batch, split into `grad_accum` micro-batches; returns the mean loss.

        Each micro-batch contrasts only against itself (fewer negatives than the full batch); that is
        the price of accumulation without caching features, and it keeps memory at one micro-batch.
        Every rank must pass the same number of pairs: the loss gathers equal-sized features.
        """
        self.forward.train()
        self.optimizer.zero_grad(set_to_none=True)
        chunks = max(1, min(self.config.grad_accum, images.shape[0] // 2))
        total = 0.0
        parts = list(zip(images.chunk(chunks), tokens.chunk(chunks), strict=True))
        for i, (image_part, token_part) in enumerate(parts):
            # DDP all-reduces gradients on the last micro-batch only; the others accumulate locally.
            last = i == len(parts) - 1
            no_sync = getattr(self.forward, "no_sync", None)
            sync_context = no_sync() if (no_sync is not None and not last) else contextlib.nullcontext()
            with sync_context, self._autocast():
                image_features, text_features, logit_scale = self.forward(
                    image_part.to(self.device, non_blocking=True), token_part.to(self.device, non_blocking=True))
                loss = self.loss_fn(image_features, text_features, logit_scale) / chunks
                self.scaler.scale(loss).backward()
            total += float(loss.detach())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)  # type: ignore[operator, union-attr]
        return total

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "scheduler": self.scheduler.state_dict()}

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if state.get("scheduler"):  # checkpoints from before the warm-up schedule have none
            self.scheduler.load_state_dict(state["scheduler"])
