"""The continual training loop: pairs in, filtered and deduplicated, batched with replay, checkpointed.

Exactly-once per pass: a pair counts as consumed when read; it is then dropped (quality, duplicate),
held out, or waits in `pending` until a step trains it. Offsets, pending pairs, dedup ids and the
model all go into one checkpoint, so a restart from it neither skips a pair nor trains one twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch

from quilt.store import ObjectStore

from .checkpoint import Checkpoint, checkpoint_name, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .evaluation import EvalExample, evaluate
from .model import ImageLoader, build_model, image_size, tokenizer
from .sources import PairSource, SourcedPair
from .stream import Reservoir, TrainPair, is_held_out, passes_quality
from .trainer import ContrastiveTrainer

COUNT_NAMES = ("consumed", "trained", "replayed", "dropped_quality", "dropped_duplicate", "held_out")
StepCallback = Callable[["TrainingJob", float], None]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TrainingJob:
    def __init__(self, config: TrainConfig, source: PairSource, store: ObjectStore,
                 device: torch.device | None = None, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.source = source
        self.store = store
        self.device = device or default_device()
        self.log = log or (lambda message: None)
        torch.manual_seed(config.schedule.seed)
        model = build_model(config.model)
        self.trainer = ContrastiveTrainer(model, config.optim, self.device)
        self.tokenize = tokenizer(config.model.text.get("context_length", config.model.context_length))
        self.images = ImageLoader(store, image_size(model), cache_size=max(4096, config.stream.reservoir_size))
        self.reservoir = Reservoir(config.stream.reservoir_size, config.schedule.seed)
        self.seen: set[str] = set()
        self.pending: list[TrainPair] = []
        self.held_out: list[TrainPair] = []
        self.offsets: dict[int, int] = {}
        self.counts: Counter[str] = Counter({name: 0 for name in COUNT_NAMES})
        self.metrics: dict[str, float] = {}
        self.step = 0
        self.pass_number = 0  # the stream is one pass; a replay of the topic from offset 0 would be the next
        self.parent: str | None = None
        self._trained_since_checkpoint: list[str] = []
        self._dirty = False
        self.last_loss = float("nan")

    @property
    def prefix(self) -> str:
        return self.config.schedule.checkpoint_prefix

    # -- checkpoints ------------------------------------------------------------------------------------

    def restore(self) -> bool:
        """Continue from the latest checkpoint under the prefix; False when there is none (a fresh start)."""
        checkpoint = load_checkpoint(self.store, self.prefix)
        if checkpoint is None:
            return False
        self.trainer.load_state_dict(checkpoint.tensors)
        stream = checkpoint.stream
        self.offsets = {int(p): int(o) for p, o in stream["offsets"].items()}
        self.seen = set(stream["seen"])
        self.pending = [TrainPair.from_list(p) for p in stream["pending"]]
        self.held_out = [TrainPair.from_list(p) for p in stream["held_out"]]
        self.reservoir = Reservoir.from_state(stream["reservoir"])
        self.counts = Counter(checkpoint.lineage["counts"])
        self.metrics = dict(checkpoint.lineage.get("metrics", {}))
        self.step = checkpoint.step
        self.pass_number = int(checkpoint.lineage.get("pass", 0))
        self.parent = checkpoint_name(checkpoint.step)
        self.source.seek(self.offsets)
        self.log(f"resumed from {self.prefix}/{self.parent}: step {self.step}, offsets {self.offsets}")
        return True

    def save(self) -> str:
        lineage = {
            "step": self.step, "parent": self.parent, "pass": self.pass_number, "saved_at": time.time(),
            "config": self.config.to_dict(), "offsets": {str(p): o for p, o in self.offsets.items()},
            "counts": dict(self.counts), "metrics": self.metrics, "pending": len(self.pending),
            "trained_ids": {str(self.pass_number): list(self._trained_since_checkpoint)},
        }
        stream = {"offsets": {str(p): o for p, o in self.offsets.items()}, "seen": sorted(self.seen),
                  "pending": [p.to_list() for p in self.pending], "held_out": [p.to_list() for p in self.held_out],
                  "reservoir": self.reservoir.state()}
        name = save_checkpoint(self.store, self.prefix,
                               Checkpoint(self.step, self.trainer.state_dict(), stream, lineage))
        self.parent = name
        self._trained_since_checkpoint = []
        self._dirty = False
        return name

    # -- the stream -------------------------------------------------------------------------------------

    def ingest(self, item: SourcedPair) -> None:
        self.offsets[item.partition] = item.offset + 1
        self.counts["consumed"] += 1
        self._dirty = True
        record = item.record
        if not passes_quality(record, self.config.stream):
            self.counts["dropped_quality"] += 1
        elif record.pair_id in self.seen:
            self.counts["dropped_duplicate"] += 1
        else:
            self.seen.add(record.pair_id)
            pair = TrainPair.of(record)
            if is_held_out(record.pair_id, self.config.stream.holdout_percent):
                self.counts["held_out"] += 1
                if len(self.held_out) < self.config.stream.holdout_max:
                    self.held_out.append(pair)
            else:
                self.pending.append(pair)

    def train_step(self, fresh: Sequence[TrainPair]) -> float:
        batch = self.config.optim.batch_size
        replay = self.reservoir.sample(min(int(batch * self.config.stream.replay_fraction), batch - len(fresh)))
        pairs = list(fresh) + replay
        images = self.images.batch([p.image for p in pairs])
        tokens = self.tokenize([p.text for p in pairs])
        loss = self.trainer.step(images, tokens)
        for pair in fresh:
            self.reservoir.offer(pair)
        self.counts["trained"] += len(fresh)
        self.counts["replayed"] += len(replay)
        self._trained_since_checkpoint.extend(p.pair_id for p in fresh)
        self.step += 1
        self._dirty = True
        self.last_loss = loss
        return loss

    def fresh_per_step(self) -> int:
        batch = self.config.optim.batch_size
        return batch - min(int(batch * self.config.stream.replay_fraction), len(self.reservoir))

    # -- evaluation -------------------------------------------------------------------------------------

    def eval_examples(self, pairs: Sequence[TrainPair]) -> list[EvalExample]:
        return [EvalExample(self.images.load(p.image), p.text, p.label) for p in pairs]

    def evaluate(self, examples: Sequence[EvalExample] | None = None,
                 classes: Sequence[str] | None = None) -> dict[str, float]:
        """Metrics on `examples`, or on the held-out split kept from the stream."""
        examples = self.eval_examples(self.held_out) if examples is None else examples
        metrics = evaluate(self.trainer.model, self.tokenize, examples, self.device, classes)
        self.metrics = {**metrics, "step": float(self.step)}
        return metrics

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self, max_steps: int | None = None, stop_when_idle: bool = False, deadline: float | None = None,
            on_step: StepCallback | None = None, poll_timeout_s: float = 1.0) -> dict[str, Any]:
        """Train until `max_steps`, the monotonic `deadline`, or (with `stop_when_idle`) an idle source."""
        schedule = self.config.schedule
        while True:
            if (max_steps is not None and self.step >= max_steps) or (deadline and time.monotonic() >= deadline):
                break
            needed = self.fresh_per_step()
            flush = False
            if len(self.pending) < needed:
                got = self.source.poll(max_records=needed - len(self.pending), timeout_s=poll_timeout_s)
                for item in got:
                    self.ingest(item)
                if got:
                    continue
                if not stop_when_idle:
                    continue
                if not self.pending:
                    break
                flush = True  # the source is drained: train the last, smaller batch
            if len(self.pending) >= needed or flush:
                fresh, self.pending = self.pending[:needed], self.pending[needed:]
                loss = self.train_step(fresh)
                if on_step:
                    on_step(self, loss)
                if self.step % schedule.eval_every_steps == 0 and self.held_out:
                    metrics = self.evaluate()
                    self.log(f"step {self.step}: loss {loss:.3f} " +
                             " ".join(f"{k}={v:.3f}" for k, v in sorted(metrics.items())))
                if self.step % schedule.checkpoint_every_steps == 0:
                    self.log(f"checkpoint {self.prefix}/{self.save()}")
        if self._dirty:
            self.log(f"checkpoint {self.prefix}/{self.save()}")
        return self.report()

    def report(self) -> dict[str, Any]:
        return {"step": self.step, "counts": dict(self.counts), "pending": len(self.pending),
                "metrics": self.metrics, "offsets": dict(self.offsets)}
