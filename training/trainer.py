"""One optimiser step of contrastive CLIP training: AdamW, gradient accumulation, AMP on CUDA only."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import open_clip  # type: ignore[import-untyped]
import torch

from .config import OptimConfig

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the temperature so logits stay below 100


def amp_enabled(mode: str, device: torch.device) -> bool:
    return device.type == "cuda" and mode in ("auto", "on")


class ContrastiveTrainer:
    def __init__(self, model: torch.nn.Module, config: OptimConfig, device: torch.device) -> None:
        self.model = model.to(device)
        self.config = config
        self.device = device
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
        self.amp = amp_enabled(config.amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loss_fn = open_clip.ClipLoss()

    def _autocast(self) -> Any:
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def step(self, images: torch.Tensor, tokens: torch.Tensor) -> float:
        """One optimiser step over the batch, split into `grad_accum` micro-batches; returns the mean loss.

        Each micro-batch contrasts only against itself (fewer negatives than the full batch); that is
        the price of accumulation without caching features, and it keeps memory at one micro-batch.
        """
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        chunks = max(1, min(self.config.grad_accum, images.shape[0] // 2))
        total = 0.0
        for image_part, token_part in zip(images.chunk(chunks), tokens.chunk(chunks), strict=True):
            with self._autocast():
                image_features, text_features, logit_scale = self.model(
                    image_part.to(self.device, non_blocking=True), token_part.to(self.device, non_blocking=True))
                loss = self.loss_fn(image_features, text_features, logit_scale) / chunks
            self.scaler.scale(loss).backward()
            total += float(loss.detach())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)  # type: ignore[operator, union-attr]
        return total

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
