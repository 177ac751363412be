"""The continual training loop: pairs in, filtered and deduplicated, batched with replay, checkpointed.

Exactly-once per pass: a pair counts as consumed when read; it is then dropped (quality, duplicate),
held out, or waits in `pending` until a step trains it. Offsets, pending pairs, dedup ids and the
model all go into one checkpoint, so a restart from it neither skips a pair nor trains one twice.

Under torchrun every rank reads its own partitions and keeps its own pending pairs and replay
reservoir; steps are taken in lockstep (training/distributed.py), pending pairs are moved between
ranks when one runs short, and rank 0 writes one checkpoint holding every rank's stream state. A
checkpoint written by N ranks resumes under M ranks: offsets are per partition and pending pairs,
held-out pairs and reservoirs are dealt out again.

Takedowns: a video withdrawn by `quilt takedown` (a `takedowns/<video_id>.json` marker in the bucket,
read at start and at every checkpoint, or a tombstone on the pair topic) is excluded: its pairs leave
`pending`, the replay reservoir and the held-out split, and any of its pairs read later is dropped
(`dropped_takedown`); so are pairs of other videos whose image lies under its frames. A tombstone
consumes its offset like a pair (`tombstones`), so the exactly-once accounting still holds:
consumed = trained + held_out + dropped_* + tombstones + pending. The excluded ids are kept in the
checkpoint's stream state, merged over the ranks, and every rank learns of a tombstone that another
rank read at the next step's agreement.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from quilt.adapters.store import ObjectStore
from quilt.ops.takedown.markers import taken_down_videos

from .checkpoint import Checkpoint, checkpoint_name, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .distributed import Collective, Solo
from .evaluation import EvalExample, evaluate
from .model import ImageLoader, build_model, image_size, tokenizer
from .sources import PairSource, SourcedPair
from .stream import Reservoir, TrainPair, is_held_out, passes_quality
from .trainer import ContrastiveTrainer

COUNT_NAMES = ("consumed", "trained", "replayed", "dropped_quality", "dropped_duplicate", "held_out",
               "dropped_takedown", "tombstones", "removed_from_replay")
StepCallback = Callable[["TrainingJob", float], None]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TrainingJob:
    def __init__(self, config: TrainConfig, source: PairSource, store: ObjectStore,
                 device: torch.device | None = None, log: Callable[[str], None] | None = None,
                 collective: Collective | None = None) -> None:
        self.config = config
        self.source = source
        self.store = store
        self.dist: Collective = collective or Solo(device or default_device())
        self.device = self.dist.device
        self.log = log or (lambda message: None)
        torch.manual_seed(config.schedule.seed)  # the same initial model on every rank
        model = build_model(config.model)
        self.trainer = ContrastiveTrainer(model, config.optim, self.device, self.dist)
        self.tokenize = tokenizer(config.model.text.get("context_length", config.model.context_length))
        self.images = ImageLoader(store, image_size(model), cache_size=max(4096, config.stream.reservoir_size))
        self.reservoir = Reservoir(config.stream.reservoir_size, config.schedule.seed + self.dist.rank)
        self.seen: set[str] = set()
        self.pending: list[TrainPair] = []
        self.held_out: list[TrainPair] = []
        self.offsets: dict[int, int] = {}
        self.excluded: set[str] = set()  # taken-down videos
        self._learned: set[str] = set()  # excluded here since the ranks last agreed: the others must hear of it
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
        rank, world = self.dist.rank, self.dist.world_size
        self.offsets = {int(p): int(o) for p, o in stream["offsets"].items()}
        self.seen = set(stream["seen"])
        self.excluded |= set(stream.get("excluded", []))  # every rank: a takedown holds whatever the world size
        # Pending and held-out pairs are dealt out to the ranks of this run (one rank takes them all).
        self.pending = [TrainPair.from_list(p) for p in stream["pending"]][rank::world]
        self.held_out = [TrainPair.from_list(p) for p in stream["held_out"]][rank::world]
        self.reservoir = restored_reservoir(stream, rank, world, self.config.schedule.seed)
        # Counts are totals over all ranks: rank 0 carries them on, the others count from zero.
        self.counts = Counter(checkpoint.lineage["counts"]) if self.dist.is_main else Counter(
            {name: 0 for name in COUNT_NAMES})
        self.metrics = dict(checkpoint.lineage.get("metrics", {}))
        self.step = checkpoint.step
        self.pass_number = int(checkpoint.lineage.get("pass", 0))
        self.parent = checkpoint_name(checkpoint.step)
        self.source.seek(self.offsets)
        self._purge_withdrawn()
        written_by = checkpoint.lineage.get("world_size", 1)
        self._log_main(f"resumed from {self.prefix}/{self.parent} (written by {written_by} rank(s), now {world}): "
                       f"step {self.step}, offsets {self.offsets}")
        return True

    def _rank_state(self) -> dict[str, Any]:
        return {"offsets": self.offsets, "seen": self.seen, "pending": [p.to_list() for p in self.pending],
                "held_out": [p.to_list() for p in self.held_out], "reservoir": self.reservoir.state(),
                "counts": dict(self.counts), "trained": list(self._trained_since_checkpoint),
                "excluded": sorted(self.excluded)}

    def save(self) -> str:
        """Every rank calls this together; rank 0 writes one checkpoint holding all ranks' stream state."""
        self.refresh_takedowns()
        ranks = self.dist.all_gather(self._rank_state())
        name = checkpoint_name(self.step)
        if self.dist.is_main:
            offsets: dict[int, int] = {}
            for state in ranks:  # a rank only moves its own partitions forward: the highest offset is current
                for partition, offset in state["offsets"].items():
                    offsets[int(partition)] = max(offset, offsets.get(int(partition), 0))
            counts: Counter[str] = Counter()
            for state in ranks:
                counts.update(state["counts"])
            trained = [pair_id for state in ranks for pair_id in state["trained"]]
            lineage = {
                "step": self.step, "parent": self.parent, "pass": self.pass_number, "saved_at": time.time(),
                "config": self.config.to_dict(), "offsets": {str(p): o for p, o in sorted(offsets.items())},
                "counts": dict(counts), "metrics": self.metrics,
                "pending": sum(len(state["pending"]) for state in ranks), "world_size": self.dist.world_size,
                "trained_ids": {str(self.pass_number): trained},
            }
            stream = {"offsets": lineage["offsets"], "seen": sorted(set().union(*(state["seen"] for state in ranks))),
                      "pending": [p for state in ranks for p in state["pending"]],
                      "held_out": [p for state in ranks for p in state["held_out"]],
                      "reservoir": ranks[0]["reservoir"], "reservoirs": [state["reservoir"] for state in ranks],
                      "excluded": sorted(set().union(*(state["excluded"] for state in ranks)))}
            name = save_checkpoint(self.store, self.prefix,
                                   Checkpoint(self.step, self.trainer.state_dict(), stream, lineage))
            try:
                self.source.commit(offsets)
            except OSError as err:  # the lag report is advisory; the checkpoint holds the truth
                self.log(f"could not commit the trainer's offsets for lag reports: {err}")
        self.dist.all_gather(None)  # nobody goes on (or exits) before the checkpoint is complete
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
        if record is None:  # a takedown's tombstone
            self.counts["tombstones"] += 1
            self.exclude([item.tombstone_video_id])
            return
        if TrainPair.of(record).withdrawn(self.excluded):
            self.counts["dropped_takedown"] += 1
        elif not passes_quality(record, self.config.stream):
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

    # -- takedowns --------------------------------------------------------------------------------------

    def exclude(self, videos: Iterable[str]) -> set[str]:
        """Withdraw these videos' pairs from this rank (and, at the next agreement, from the others)."""
        new = {v for v in videos if v} - self.excluded
        if new:
            self.excluded |= new
            self._learned |= new
            self._purge_withdrawn()
        return new

    def refresh_takedowns(self) -> set[str]:
        """Exclude the videos with a takedown marker in the bucket; returns the ones new to this job."""
        return self.exclude(taken_down_videos(self.store))

    def _purge_withdrawn(self) -> None:
        if not self.excluded:
            return
        gone = [p for p in self.pending if p.withdrawn(self.excluded)]
        if gone:
            self.pending = [p for p in self.pending if not p.withdrawn(self.excluded)]
            self.counts["dropped_takedown"] += len(gone)  # consumed and never trained: dropped, like at ingest
        held = len(self.held_out)
        self.held_out = [p for p in self.held_out if not p.withdrawn(self.excluded)]  # still counted as held_out
        removed = self.reservoir.remove(lambda p: p.withdrawn(self.excluded))
        self.counts["removed_from_replay"] += removed
        if gone or removed or held != len(self.held_out):
            self._dirty = True

    def replay_target(self) -> int:
        return int(self.config.optim.batch_size * self.config.stream.replay_fraction)

    def train_step(self, fresh: Sequence[TrainPair], replay_count: int | None = None) -> float:
        """One step on `fresh` plus `replay_count` reservoir pairs (default: as many as the batch has room for)."""
        batch = self.config.optim.batch_size
        if replay_count is None:
            replay_count = min(self.replay_target(), batch - len(fresh))
        replay = self.reservoir.sample(replay_count)
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
        return self.config.optim.batch_size - min(self.replay_target(), len(self.reservoir))

    # -- evaluation -------------------------------------------------------------------------------------

    def eval_examples(self, pairs: Sequence[TrainPair]) -> list[EvalExample]:
        return [EvalExample(self.images.load(p.image), p.text, p.label) for p in pairs]

    def evaluate(self, examples: Sequence[EvalExample] | None = None,
                 classes: Sequence[str] | None = None) -> dict[str, float]:
        """Metrics on `examples`, or on the held-out split kept from the stream."""
        if examples is None:
            held_out = [p for part in self.dist.all_gather(self.held_out) for p in part]
            if not self.dist.is_main:
                return {}  # rank 0 evaluates the whole held-out split; the model is the same everywhere
            examples = self.eval_examples(held_out)
        metrics = evaluate(self.trainer.model, self.tokenize, examples, self.device, classes)
        self.metrics = {**metrics, "step": float(self.step)}
        return metrics

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self, max_steps: int | None = None, stop_when_idle: bool = False, deadline: float | None = None,
            on_step: StepCallback | None = None, poll_timeout_s: float = 1.0) -> dict[str, Any]:
        """Train until `max_steps`, the monotonic `deadline`, or (with `stop_when_idle`) an idle source.

        Each round every rank polls for what it lacks, then all ranks share four numbers (and the takedowns
        they learned of) and take the same decision: step, poll again, deal pending pairs out evenly, or stop.
        """
        schedule = self.config.schedule
        world = self.dist.world_size
        self.refresh_takedowns()
        while True:
            stop = (max_steps is not None and self.step >= max_steps) or bool(deadline and time.monotonic() >= deadline)
            got: list[SourcedPair] = []
            # Buffer up to a step's worth for every rank, so one rank can feed a rank whose partitions are dry.
            wanted = self.fresh_per_step() * world - len(self.pending)
            if not stop and wanted > 0:
                got = self.source.poll(max_records=wanted, timeout_s=poll_timeout_s)
                for item in got:
                    self.ingest(item)
            learned, self._learned = sorted(self._learned), set()
            stats = self.dist.all_gather((len(self.pending), len(self.reservoir), len(got), stop, learned))
            heard = {video for s in stats for video in s[4]}
            if heard:  # takedowns some rank learned of: every rank purges them (a no-op where already done)
                self.exclude(heard)
                self._learned -= heard  # everyone has heard them now
            if any(s[3] for s in stats):
                break
            if heard and world > 1:
                continue  # other ranks' purges changed the numbers just shared: agree again (all ranks alike)
            pending = [s[0] for s in stats]
            replay = min(self.replay_target(), min(s[1] for s in stats))
            needed = self.config.optim.batch_size - replay
            if min(pending) < needed:
                if sum(pending) >= needed * world:
                    self._deal_pending()  # enough in all for a step everywhere: even the ranks out
                elif any(s[2] for s in stats) or not stop_when_idle:
                    continue  # pairs are still arriving, or we wait for them
                elif sum(pending) < world:
                    break  # drained; fewer pairs than ranks stay pending, in the checkpoint
                else:
                    self._deal_pending()  # drained: train the last, smaller batch on every rank
                    needed = sum(pending) // world
                    replay = min(replay, self.config.optim.batch_size - needed)
            fresh, self.pending = self.pending[:needed], self.pending[needed:]
            loss = self.train_step(fresh, replay)
            if on_step:
                on_step(self, loss)
            if self.step % schedule.eval_every_steps == 0 and self.held_out_anywhere():
                metrics = self.evaluate()
                if metrics:
                    self.log(f"step {self.step}: loss {loss:.3f} lr {self.trainer.lr:.2e} " +
                             " ".join(f"{k}={v:.3f}" for k, v in sorted(metrics.items())))
            if self.step % schedule.checkpoint_every_steps == 0:
                self._log_main(f"checkpoint {self.prefix}/{self.save()}")
        if any(self.dist.all_gather(self._dirty)):
            self._log_main(f"checkpoint {self.prefix}/{self.save()}")
        return self.report()

    def _deal_pending(self) -> None:
        """Deal every rank's pending pairs out round-robin, so each rank holds an equal share (+-1)."""
        everyone = [p for part in self.dist.all_gather(self.pending) for p in part]
        self.pending = everyone[self.dist.rank::self.dist.world_size]

    def held_out_anywhere(self) -> bool:
        return any(self.dist.all_gather(bool(self.held_out)))

    def _log_main(self, message: str) -> None:
        if self.dist.is_main:
            self.log(message)

    def report(self) -> dict[str, Any]:
        """Totals over all ranks (every rank calls this; each gets the same counts)."""
        ranks = self.dist.all_gather((dict(self.counts), len(self.pending), self.offsets))
        counts: Counter[str] = Counter({name: 0 for name in COUNT_NAMES})
        offsets: dict[int, int] = {}
        for rank_counts, _, rank_offsets in ranks:
            counts.update(rank_counts)
            for partition, offset in rank_offsets.items():
                offsets[partition] = max(offset, offsets.get(partition, 0))
        return {"step": self.step, "counts": dict(counts), "pending": sum(r[1] for r in ranks),
                "metrics": self.metrics, "offsets": offsets, "world_size": self.dist.world_size}


def restored_reservoir(stream: dict[str, Any], rank: int, world: int, seed: int) -> Reservoir:
    """This rank's reservoir: its own when the world size is unchanged, else an even share of all of them."""
    states = stream.get("reservoirs") or [stream["reservoir"]]
    if len(states) == world:
        return Reservoir.from_state(states[rank])
    items = [TrainPair.from_list(item) for state in states for item in state["items"]]
    capacity = int(states[0]["capacity"])
    reservoir = Reservoir(capacity, seed + rank)
    reservoir.items = items[rank::world][:capacity]
    reservoir.offered = max(len(reservoir.items), sum(int(state["offered"]) for state in states) // world)
    return reservoir
