"""`quilt bench throughput`: training images per second of a CLIP config on this machine's device.

Times full optimiser steps (forward, contrastive loss, backward, AdamW; AMP on CUDA) of the config's
architecture on random images and captions of the config's sizes, after a few untimed warm-up steps.
Nothing is downloaded: the architecture is built without its pretrained weights, which do not change
the cost of a step. The issue's GPU figure is ViT-B/32 at batch 256:

    quilt bench throughput --config quiltnet-vit-b32 --batch 256

Under torchrun each rank would see the same per-device figure; the loss's feature gather adds a
little. The last stdout line is machine-readable:

    throughput: images_per_s=X batch=B steps=S device=D config=C amp=on|off
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from .arg_types import number_above_zero
from .ui import err_console, progress_bar

DESCRIPTION = __doc__
_positive = number_above_zero("value")


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--config", default="tiny", metavar="NAME|FILE",
                        help="training config: a shipped name or a TOML/JSON file (default tiny)")
    parser.add_argument("--batch", type=_positive, metavar="N",
                        help="pairs per step (default: the config's optim.batch_size)")
    parser.add_argument("--steps", type=_positive, default=10, metavar="N", help="timed steps (default 10)")
    parser.add_argument("--warmup", type=int, default=2, metavar="N", help="untimed steps first (default 2)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to train (default auto: CUDA when present)")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("throughput", help="training images per second of a CLIP config",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(parser)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `quilt bench throughput` to the `quilt bench` sub-parsers, run by `run`."""
    add_parser(sub).set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from training.config import ConfigError, load_config
    from training.model import build_model, image_size
    from training.trainer import ContrastiveTrainer, amp_enabled

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        err_console.print("[red]error:[/red] --device cuda, but torch sees no CUDA device")
        return 2
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    batch = int(args.batch or config.optim.batch_size)
    steps, warmup = int(args.steps), max(0, int(args.warmup))
    model_config = dataclasses.replace(config.model, pretrained=None)  # the cost of a step needs no weights
    torch.manual_seed(0)
    model = build_model(model_config)
    trainer = ContrastiveTrainer(model, dataclasses.replace(config.optim, batch_size=batch), device)
    size = image_size(model)
    context = int(config.model.text.get("context_length", config.model.context_length))
    vocab = int(config.model.text.get("vocab_size", 49408))
    images = torch.randn(batch, 3, size, size)
    tokens = torch.randint(1, vocab, (batch, context))
    err_console.print(f"{config.source_path}: batch {batch}, image {size}px, {device}, "
                      f"amp {'on' if amp_enabled(config.optim.amp, device) else 'off'}")
    elapsed = 0.0
    with progress_bar() as progress:
        task = progress.add_task("steps", total=warmup + steps, step="")
        for i in range(warmup + steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            loss = trainer.step(images, tokens)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                elapsed += time.perf_counter() - started
            progress.update(task, advance=1, step=f"loss {loss:.3f}")
    rate = batch * steps / elapsed
    amp = "on" if trainer.amp else "off"
    name = config.model.name or "custom"
    print(f"{name}: {rate:.1f} images/s over {steps} steps of {batch} ({elapsed:.1f} s)")
    print(f"throughput: images_per_s={rate:.1f} batch={batch} steps={steps} device={device.type} "
          f"config={name} amp={amp}", flush=True)
    return 0
