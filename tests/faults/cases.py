"""The faults injected into the running stack, and the bad inputs sent to it, with what each must end as."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quilt.adapters.config import SERVICES
from quilt.adapters.status import read_video_status
from quilt.adapters.store import ObjectStore
from quilt.stack.launcher import Stack
from quilt.stack.processes import group_members

UPSTREAM = {"fetcher": "", "decoder": "fetcher", "asr": "decoder", "denoiser": "asr", "histo_filter": "decoder",
            "aligner": "denoiser"}


@dataclass
class Fault:
    name: str
    what: str  # for the README table
    inject: Callable[[Stack, ObjectStore, str], None]  # (stack, bucket, video id), called right after submitting


def wait_stage(store: ObjectStore, video_id: str, stage: str, timeout_s: float = 120.0) -> None:
    """Until `stage` is done (or anything failed) for the video; "" returns at once."""
    deadline = time.monotonic() + timeout_s
    while stage and time.monotonic() < deadline:
        try:
            states = {s: e.get("state") for s, e in read_video_status(store, video_id).items()}
        except Exception:  # noqa: BLE001 - the store may be the component that is down
            states = {}
        if states.get(stage) == "done" or "failed" in states.values():
            return
        time.sleep(0.2)


def kill_service(name: str) -> Fault:
    def inject(stack: Stack, store: ObjectStore, video_id: str) -> None:
        wait_stage(store, video_id, UPSTREAM[name])  # the video's message is now queued or in flight there
        stack.stop(name, hard=True)
        stack.start(name)

    return Fault(f"kill -9 {name}", f"SIGKILL to the {name} service when the video reaches it, then a restart",
                 inject)


def graceful_stop(name: str) -> Fault:
    def inject(stack: Stack, store: ObjectStore, video_id: str) -> None:
        wait_stage(store, video_id, UPSTREAM[name])
        stack.stop(name)
        stack.start(name)

    return Fault(f"SIGTERM {name}", f"SIGTERM to the {name} service mid-video (drain, commit, exit), then a start",
                 inject)


def broker_restart(hard: bool) -> Fault:
    def inject(stack: Stack, store: ObjectStore, video_id: str) -> None:
        wait_stage(store, video_id, "decoder")
        stack.stop("broker", hard=hard)
        stack.start("broker")

    return Fault("kill -9 broker" if hard else "restart broker",
                 ("SIGKILL to" if hard else "SIGTERM and restart of") + " the Kafka broker mid-video", inject)


def s3_away(seconds: float) -> Fault:
    def inject(stack: Stack, store: ObjectStore, video_id: str) -> None:
        wait_stage(store, video_id, "decoder")
        stack.stop("s3", hard=True)
        time.sleep(seconds)
        stack.start("s3")

    return Fault(f"S3 away {seconds:.0f} s", f"the S3 store killed mid-video and started again {seconds:.0f} s later "
                 "(the broker keeps its log there too)", inject)


def triton_away(seconds: float) -> Fault:
    def inject(stack: Stack, store: ObjectStore, video_id: str) -> None:
        wait_stage(store, video_id, "fetcher")
        stack.stop("triton")
        time.sleep(seconds)
        stack.start("triton", timeout_s=240)

    return Fault("Triton stopped", f"Triton stopped mid-video and started again {seconds:.0f} s later", inject)


def data_dir_full(seconds: float) -> Fault:
    """RLIMIT_FSIZE 0 on the S3 store, whose files are the data directory's bulk (objects and the broker's log):
    every write it makes fails with EFBIG, as on a full disk, until the limit is lifted."""
    def inject(stack: Stack, store: ObjectStore, video_id: str) -> None:
        import resource

        wait_stage(store, video_id, "decoder")
        pids = [pid for state in stack.status() if state.name == "s3" and state.pid
                for pid in group_members(state.pid)]
        saved = {pid: resource.prlimit(pid, resource.RLIMIT_FSIZE) for pid in pids}
        for pid, (_soft, hard) in saved.items():
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))
        time.sleep(seconds)
        for pid, limits in saved.items():
            resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)

    return Fault("data dir full", f"every write of the S3 store (objects and the broker's log) fails with EFBIG "
                 f"for {seconds:.0f} s mid-video, as on a full disk", inject)


def whole_stack_crash() -> Fault:
    def inject(stack: Stack, store: ObjectStore, video_id: str) -> None:
        wait_stage(store, video_id, "asr")
        for name in (*SERVICES, "triton", "broker", "s3"):
            stack.stop(name, hard=True)
        stack.up(timeout_s=240)

    return Fault("kill -9 everything", "SIGKILL to every component at once mid-video (power loss), then `stack up`",
                 inject)


def all_faults() -> list[Fault]:
    return [*(kill_service(name) for name in SERVICES), graceful_stop("asr"), broker_restart(hard=False),
            broker_restart(hard=True), s3_away(30.0), triton_away(10.0), data_dir_full(20.0), whole_stack_crash()]


@dataclass
class BadInput:
    name: str
    what: str
    # None: the video must finish with no pairs; otherwise the dead-letter reasons accepted
    reasons: tuple[str, ...] | None
    make: Callable[[Path], Any] = field(repr=False)  # -> a source (path or URL) to submit, or a RawMessage
    stage: str = ""  # the stage expected to refuse it ("" = any)
    has_status: bool = True  # False: its message key cannot name a status object, so only the dead letter tells


@dataclass(frozen=True)
class RawMessage:
    """Bytes produced straight onto a topic, as a broken or hostile producer would."""
    topic: str  # unprefixed
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
