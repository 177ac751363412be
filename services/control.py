"""gRPC side of a service: standard health plus the small control API."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from quilt.core.time_util import now_iso
from quilt.core.types import StageError
from quiltpb.v1 import services_pb2 as spb
from quiltpb.v1 import services_pb2_grpc as sgrpc

_ADDERS: dict[str, Callable[[object, grpc.Server], None]] = {
    "fetcher": sgrpc.add_FetcherServicer_to_server,
    "decoder": sgrpc.add_DecoderServicer_to_server,
    "asr": sgrpc.add_AsrServicer_to_server,
    "denoiser": sgrpc.add_DenoiserServicer_to_server,
    "histo_filter": sgrpc.add_HistoFilterServicer_to_server,
    "aligner": sgrpc.add_AlignerServicer_to_server,
}

GRPC_SERVICE_NAMES = {
    "fetcher": "quiltpb.v1.Fetcher", "decoder": "quiltpb.v1.Decoder", "asr": "quiltpb.v1.Asr",
    "denoiser": "quiltpb.v1.Denoiser", "histo_filter": "quiltpb.v1.HistoFilter",
    "aligner": "quiltpb.v1.Aligner",
}


@dataclass
class Counters:
    """In-memory totals since start, served by GetStatus."""

    processed: int = 0
    failed: int = 0
    in_flight: int = 0
    started_at: str = field(default_factory=now_iso)
    recent: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # video -> (state, reason, at)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, video_id: str, state: str, reason: str = "") -> None:
        with self.lock:
            if state == "failed":
                self.failed += 1
            else:
                self.processed += 1
            self.recent[video_id] = (state, reason, now_iso())
            while len(self.recent) > 1000:
                self.recent.pop(next(iter(self.recent)))


class ControlServicer:
    """GetStatus for every service; Submit only where a submit function is given (the fetcher)."""

    def __init__(self, service: str, counters: Counters,
                 submit: Callable[[list[str]], list[tuple[str, str]]] | None = None) -> None:
        self.service = service
        self.counters = counters
        self.submit = submit

    def GetStatus(self, request: spb.StatusRequest, context: grpc.ServicerContext) -> spb.StatusReply:
        c = self.counters
        with c.lock:
            videos = [spb.VideoProgress(video_id=v, state=s, reason=r, updated_at=at)
                      for v, (s, r, at) in c.recent.items()
                      if not request.video_id or v == request.video_id]
            return spb.StatusReply(service=self.service, processed=c.processed, failed=c.failed,
                                   in_flight=c.in_flight, started_at=c.started_at, videos=videos)

    def Submit(self, request: spb.SubmitRequest, context: grpc.ServicerContext) -> spb.SubmitReply:
        if self.submit is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Submit is served by the fetcher only")
        try:
            done = self.submit(list(request.sources))  # type: ignore[misc]
        except (StageError, ValueError) as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        return spb.SubmitReply(submitted=[spb.Submitted(video_id=v, source=s) for v, s in done])


class ControlServer:
    def __init__(self, service: str, address: str, servicer: ControlServicer) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        _ADDERS[service](servicer, self.server)
        if self.server.add_insecure_port(address) == 0:
            raise OSError(f"cannot listen on {address}")
        self.names = ("", GRPC_SERVICE_NAMES[service])
        self.set_serving(False)

    def start(self) -> None:
        self.server.start()

    def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in self.names:
            self.health.set(name, status)

    def stop(self, grace_s: float = 5.0) -> None:
        self.set_serving(False)
        self.server.stop(grace_s).wait()
