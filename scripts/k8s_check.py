#!/usr/bin/env python3
"""Render the Kubernetes overlays in k8s/ and check them offline.

For each overlay (k8s/overlays/<name>) the script runs `kubectl kustomize`, validates every
built-in object against the Kubernetes JSON schemas bundled with kubernetes-validate (no
network), checks the custom resources (KEDA, Strimzi, prometheus-operator) for their required
fields, and asserts the deployment's invariants against the code: the stages, their inputs and
consumer groups come from services.<name>.SPEC and services.runtime.build_app, the topics from
quilt.core.topics, the ports and setting names from quilt.adapters.config.Settings. It also lints the
Dockerfile. The last line printed is machine-readable:

    k8s: overlays=N objects=M invariants=K failed=F

and the exit status is 1 when F > 0 (a rendering or schema failure counts as a failed check).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Obj = dict[str, Any]

K8S_VERSION = "1.32.0"  # the cluster version the manifests target; the schemas are bundled
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
LONG_DRAIN_STAGES = {"asr": 300, "decoder": 300}  # seconds of grace at least: a lecture is long
MIN_GRACE_S = 30
CREDENTIAL_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
# QUILT_* variables a manifest may set that no code reads yet, with the issue that brings the reader.
PLANNED_ENV = {"QUILT_TRAIN_CHECKPOINTS": "training issue (python -m training.train)"}
DAY_MS = 86_400_000
PAIRS_MIN_RETENTION_MS = 365 * DAY_MS
DEADLETTER_MIN_RETENTION_MS = 30 * DAY_MS
MONITORING_NAMESPACE = "monitoring"
KEDA_NAMESPACE = "keda"

# Custom resources: the fields each must have (a path; "[]" means every item of a non-empty list).
CUSTOM_RESOURCES: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): (
        ("metadata", "name"), ("spec", "scaleTargetRef", "name"), ("spec", "minReplicaCount"),
        ("spec", "maxReplicaCount"), ("spec", "pollingInterval"), ("spec", "cooldownPeriod"),
        ("spec", "triggers", "[]", "type"), ("spec", "triggers", "[]", "metadata"),
    ),
    ("kafka.strimzi.io/v1beta2", "Kafka"): (
        ("metadata", "name"), ("spec", "kafka", "version"), ("spec", "kafka", "listeners", "[]", "name"),
        ("spec", "kafka", "listeners", "[]", "port"), ("spec", "kafka", "listeners", "[]", "type"),
        ("spec", "kafka", "listeners", "[]", "tls"), ("spec", "entityOperator"),
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): (
        ("metadata", "name"), ("metadata", "labels", "strimzi.io/cluster"), ("spec", "replicas"),
        ("spec", "roles", "[]"), ("spec", "storage", "type"),
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): (
        ("metadata", "name"), ("metadata", "labels", "strimzi.io/cluster"), ("spec", "partitions"),
        ("spec", "replicas"), ("spec", "config", "retention.ms"), ("spec", "config", "cleanup.policy"),
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): (
        ("metadata", "name"), ("metadata", "labels", "strimzi.io/cluster"), ("spec", "authentication", "type"),
    ),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        ("metadata", "name"), ("spec", "selector"), ("spec", "endpoints", "[]", "port"),
    ),
    ("monitoring.coreos.com/v1", "PodMonitor"): (
        ("metadata", "name"), ("spec", "selector"), ("spec", "podMetricsEndpoints", "[]", "port"),
    ),
}


@dataclass
class Check:
    overlay: str
    name: str
    subject: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class StageTruth:
    name: str
    inputs: tuple[str, ...]  # prefixed topic names
    group: str  # faust app id = Kafka consumer group
    grpc_port: int
    metrics_port: int


@dataclass(frozen=True)
class Truth:
    stages: dict[str, StageTruth]
    topics: tuple[str, ...]  # prefixed
    prefix: str
    env_names: frozenset[str]  # QUILT_* names the code reads
    models: tuple[str, ...]  # triton_models/<name>
    expirable: tuple[str, ...]  # bucket prefixes a lifecycle rule may expire


class RenderError(RuntimeError):
    pass


# ---------------------------------------------------------------- the truth, from the code


def load_truth() -> Truth:
    """What the manifests must agree with, read from the project's code."""
    from quilt.adapters.config import SERVICES, Settings
    from quilt.core import keys, topics
    from services.runtime import build_app

    settings = Settings()
    stages = {}
    for name in SERVICES:
        spec = importlib.import_module(f"services.{name}").SPEC
        group = str(build_app(spec, settings).conf.id)
        stages[name] = StageTruth(name, tuple(settings.topic(t) for t in spec.inputs), group,
                                  settings.service_grpc_port(name), settings.service_metrics_port(name))
    env = {f"QUILT_{f.name.upper()}" for f in fields(Settings)}
    for folder in ("quilt", "services", "triton_models"):
        for path in (ROOT / folder).rglob("*.py"):
            env.update(re.findall(r"\bQUILT_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")))
    # Models Triton loads at start: those with a version folder. triton_models/clip has none in git: its versions
    # are written by `python -m training.promote` and loaded live through model control.
    models = tuple(sorted(p.parent.name for p in (ROOT / "triton_models").glob("*/config.pbtxt")
                          if any(v.is_dir() and v.name.isdigit() for v in p.parent.iterdir())))
    expirable = (keys.audio_window_key("v", 0).split("/")[0] + "/", keys.join_key("v", "p").rsplit("/", 2)[0] + "/")
    return Truth(stages, tuple(settings.topic(t) for t in topics.ALL), settings.topic_prefix, frozenset(env),
                 models, expirable)


# ---------------------------------------------------------------- rendering


def find_renderer(explicit: str | None = None) -> list[str]:
    """The command that renders a kustomization: `kubectl kustomize` or `kustomize build`."""
    if explicit:
        return [explicit, "kustomize"] if Path(explicit).name.startswith("kubectl") else [explicit, "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    raise RenderError("neither kubectl nor kustomize is on PATH (the Debian/Google package kubectl provides it)")


def render(overlay: Path, renderer: Sequence[str]) -> list[Obj]:
    proc = subprocess.run([*renderer, str(overlay)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RenderError(f"{' '.join(renderer)} {overlay} failed: {proc.stderr.strip()[-2000:]}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def overlay_dirs(names: Sequence[str] | None = None) -> list[Path]:
    found = sorted(p.parent for p in (ROOT / "k8s" / "overlays").glob("*/kustomization.yaml"))
    if names:
        wanted = set(names)
        missing = wanted - {p.name for p in found}
        if missing:
            raise RenderError(f"no such overlay: {', '.join(sorted(missing))}")
        found = [p for p in found if p.name in wanted]
    return found


# ---------------------------------------------------------------- small helpers


def ref(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o.get("kind") == kind]


def named(objs: list[Obj], kind: str, name: str) -> Obj | None:
    return next((o for o in of_kind(objs, kind) if o["metadata"].get("name") == name), None)


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def pod_template(obj: Obj) -> Obj:
    """The pod template of a workload (the object itself, not a copy)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = dig(spec, "jobTemplate", "spec", default={})
    return cast(Obj, spec.get("template") or {})


def pod_spec(obj: Obj) -> Obj:
    return cast(Obj, pod_template(obj).get("spec") or {})


def pod_labels(obj: Obj) -> dict[str, str]:
    return cast(dict[str, str], dig(pod_template(obj), "metadata", "labels", default={}))


def workloads(objs: list[Obj]) -> list[Obj]:
    return [o for o in objs if o.get("kind") in WORKLOAD_KINDS]


def containers(spec: Obj, init: bool = True) -> list[Obj]:
    return list(spec.get("containers") or []) + (list(spec.get("initContainers") or []) if init else [])


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector; an empty selector matches everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def parse_quantity_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def namespace_of(objs: list[Obj]) -> str:
    spaces = of_kind(objs, "Namespace")
    if spaces:
        return str(spaces[0]["metadata"]["name"])
    return str(next((o["metadata"].get("namespace") for o in objs if o["metadata"].get("namespace")), "default"))


def split_hostport(value: str) -> tuple[str, int | None]:
    host, _, port = value.rpartition(":")
    if not host:
        return value, None
    return host, parse_quantity_int(port)


def service_name_of(host: str, namespace: str) -> str | None:
    """`name`, `name.ns`, `name.ns.svc` or `name.ns.svc.cluster.local` in this namespace -> name."""
    parts = host.split(".")
    if len(parts) == 1 or (parts[1] == namespace and (len(parts) == 2 or parts[2] == "svc")):
        return parts[0]
    return None


def config_data(objs: list[Obj]) -> dict[str, str]:
    cm = named(objs, "ConfigMap", "quilt-config")
    return {str(k): str(v) for k, v in ((cm or {}).get("data") or {}).items()}


# ---------------------------------------------------------------- schema


def missing_path(obj: Any, path: tuple[str, ...]) -> bool:
    if not path:
        return obj is None or obj == ""
    head, rest = path[0], path[1:]
    if head == "[]":
        if not isinstance(obj, list) or not obj:
            return True
        return any(missing_path(item, rest) for item in obj)
    if not isinstance(obj, dict) or head not in obj:
        return True
    return missing_path(obj[head], rest)


def check_schema(overlay: str, objs: list[Obj], version: str = K8S_VERSION) -> Iterator[Check]:
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    for obj in objs:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if key in CUSTOM_RESOURCES:
            missing = [".".join(p) for p in CUSTOM_RESOURCES[key] if missing_path(obj, p)]
            yield Check(overlay, "schema", ref(obj), not missing,
                        f"custom resource lacks {', '.join(missing)}" if missing else "custom resource fields")
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(p) for p in err.path)
            yield Check(overlay, "schema", ref(obj), False, f"{where}: {err.message}")
        except SchemaNotFoundError:
            yield Check(overlay, "schema", ref(obj), False,
                        f"no schema: {key[0]} {key[1]} is neither built in nor in CUSTOM_RESOURCES")
        else:
            yield Check(overlay, "schema", ref(obj), True, f"kubernetes {version} (strict)")


# ---------------------------------------------------------------- pods


def check_pods(overlay: str, objs: list[Obj]) -> Iterator[Check]:
    for obj in workloads(objs):
        spec = pod_spec(obj)
        pod_sc = spec.get("securityContext") or {}
        for c in containers(spec):
            subject = f"{ref(obj)}[{c['name']}]"
            res = c.get("resources") or {}
            lacking = [f"{part}.{r}" for part in ("requests", "limits") for r in ("cpu", "memory")
                       if r not in (res.get(part) or {})]
            yield Check(overlay, "pod.resources", subject, not lacking,
                        f"missing {', '.join(lacking)}" if lacking else "requests and limits")
            sc = c.get("securityContext") or {}
            problems = []
            if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot", False)):
                problems.append("runAsNonRoot is not true")
            if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
                problems.append("runAsUser is 0")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append("readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append("allowPrivilegeEscalation is not false")
            if "ALL" not in (dig(sc, "capabilities", "drop") or []):
                problems.append("capabilities.drop lacks ALL")
            if sc.get("privileged"):
                problems.append("privileged")
            seccomp = dig(sc, "seccompProfile", "type") or dig(pod_sc, "seccompProfile", "type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append("no RuntimeDefault seccomp profile")
            if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
                problems.append("uses the host's namespaces")
            if any("hostPath" in v for v in spec.get("volumes") or []):
                problems.append("mounts a hostPath")
            yield Check(overlay, "pod.security", subject, not problems, "; ".join(problems) or "restricted")
            image = str(c.get("image", ""))
            yield Check(overlay, "images.pinned", subject, image_pinned(image), image)


# An exact release in a tag: 1.2.3 (semver, python:3.11.14-slim-bookworm) or RELEASE.2025-09-07T16-13-09Z
# (MinIO); for NVIDIA's registry also YY.MM (monthly releases, tritonserver:25.01-py3). "3.11-slim",
# "24.04" elsewhere, or "latest" move.
EXACT_TAG = re.compile(r"\d+\.\d+\.\d+|RELEASE\.\d{4}-\d{2}-\d{2}")
NGC_RELEASE = re.compile(r"^\d{2}\.\d{2}(?:-|$)")


def image_pinned(image: str) -> bool:
    """A digest, or a tag naming an exact release."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    if tag == "latest":
        return False
    return bool(EXACT_TAG.search(tag)) or (image.startswith("nvcr.io/") and bool(NGC_RELEASE.match(tag)))


def prestop_seconds(container: Obj) -> int | None:
    hook = dig(container, "lifecycle", "preStop")
    if not hook:
        return None
    if "sleep" in hook:
        return int(hook["sleep"].get("seconds", 0))
    command = " ".join(dig(hook, "exec", "command") or [])
    found = re.search(r"sleep\s+(\d+)", command)
    return int(found.group(1)) if found else 0


def check_deployments(overlay: str, objs: list[Obj]) -> Iterator[Check]:
    pdbs = of_kind(objs, "PodDisruptionBudget")
    for dep in of_kind(objs, "Deployment"):
        spec, labels = pod_spec(dep), pod_labels(dep)
        for c in containers(spec, init=False):
            subject = f"{ref(dep)}[{c['name']}]"
            lacking = [p for p in ("readinessProbe", "livenessProbe") if not c.get(p)]
            yield Check(overlay, "deployment.probes", subject, not lacking,
                        f"missing {', '.join(lacking)}" if lacking else "readiness and liveness")
            grace = spec.get("terminationGracePeriodSeconds")
            sleep = prestop_seconds(c)
            stage = labels.get("quilt.io/stage", "")
            need = max(MIN_GRACE_S, LONG_DRAIN_STAGES.get(stage, 0))
            problems = []
            if sleep is None:
                problems.append("no lifecycle.preStop")
            if grace is None:
                problems.append("terminationGracePeriodSeconds not set")
            elif grace < need or (sleep is not None and grace <= sleep):
                problems.append(f"terminationGracePeriodSeconds {grace} < {max(need, (sleep or 0) + 1)}")
            yield Check(overlay, "deployment.shutdown", subject, not problems,
                        "; ".join(problems) or f"preStop {sleep}s, grace {grace}s")
        matching = [p for p in pdbs if selector_matches(dig(p, "spec", "selector"), labels)]
        problems = [] if matching else ["no PodDisruptionBudget selects its pods"]
        for pdb in matching:
            min_available = dig(pdb, "spec", "minAvailable")
            replicas = dig(dep, "spec", "replicas", default=1)
            if isinstance(min_available, int) and min_available >= replicas:
                problems.append(f"{ref(pdb)} minAvailable {min_available} blocks every eviction")
        yield Check(overlay, "deployment.pdb", ref(dep), not problems,
                    "; ".join(problems) or ", ".join(ref(p) for p in matching))


# ---------------------------------------------------------------- stages, KEDA, Kafka


def stage_deployment(objs: list[Obj], stage: str) -> Obj | None:
    return next((d for d in of_kind(objs, "Deployment") if pod_labels(d).get("quilt.io/stage") == stage), None)


def kafka_bootstrap(objs: list[Obj]) -> tuple[str, int] | None:
    """(service name, port) of the plain listener of the (first) Strimzi cluster."""
    kafka = next(iter(of_kind(objs, "Kafka")), None)
    if kafka is None:
        return None
    for listener in dig(kafka, "spec", "kafka", "listeners", default=[]):
        if listener.get("type") == "internal" and not listener.get("tls") and not listener.get("authentication"):
            return f"{kafka['metadata']['name']}-kafka-bootstrap", int(listener["port"])
    return None


def check_stages(overlay: str, objs: list[Obj], truth: Truth) -> Iterator[Check]:
    topics = {dig(t, "spec", "topicName") or t["metadata"]["name"]: t for t in of_kind(objs, "KafkaTopic")}
    namespace = namespace_of(objs)
    bootstrap = kafka_bootstrap(objs)
    for stage in truth.stages.values():
        dep = stage_deployment(objs, stage.name)
        subject = f"stage {stage.name}"
        problems: list[str] = []
        if dep is None:
            yield Check(overlay, "stage.deployment", subject, False, "no Deployment labelled quilt.io/stage")
            yield Check(overlay, "stage.scaledobject", subject, False, "no Deployment to scale")
            continue
        c = (pod_spec(dep).get("containers") or [{}])[0]
        command = list(c.get("command") or []) + list(c.get("args") or [])
        if command[-2:] != ["-m", f"services.{stage.name}"]:
            problems.append(f"command {command} does not run services.{stage.name}")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            port = dig(c, probe, "grpc", "port")
            if c.get(probe) and port != stage.grpc_port:
                problems.append(f"{probe} is not a gRPC probe on {stage.grpc_port} (got {port})")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        if ports.get("grpc") != stage.grpc_port or ports.get("metrics") != stage.metrics_port:
            problems.append(f"ports {ports} != grpc {stage.grpc_port}, metrics {stage.metrics_port}")
        yield Check(overlay, "stage.deployment", subject, not problems, "; ".join(problems) or ref(dep))

        scaled = [s for s in of_kind(objs, "ScaledObject")
                  if dig(s, "spec", "scaleTargetRef", "name") == dep["metadata"]["name"]
                  and dig(s, "spec", "scaleTargetRef", "kind", default="Deployment") == "Deployment"]
        problems = []
        if len(scaled) != 1:
            problems.append(f"{len(scaled)} ScaledObjects target {ref(dep)}")
        for so in scaled:
            triggers = dig(so, "spec", "triggers", default=[])
            if any(t.get("type") != "kafka" for t in triggers):
                problems.append("a trigger is not of type kafka")
            meta = [t.get("metadata") or {} for t in triggers]
            seen = sorted(m.get("topic", "") for m in meta)
            if seen != sorted(stage.inputs):
                problems.append(f"trigger topics {seen} != SPEC.inputs {sorted(stage.inputs)}")
            groups = {m.get("consumerGroup") for m in meta}
            if groups != {stage.group}:
                problems.append(f"consumerGroup {sorted(map(str, groups))} != faust group {stage.group}")
            for m in meta:
                if (parse_quantity_int(m.get("lagThreshold", "")) or 0) < 1:
                    problems.append(f"lagThreshold {m.get('lagThreshold')!r} is not a positive integer")
                host, port = split_hostport(str(m.get("bootstrapServers", "")))
                parts = host.split(".")
                if bootstrap is None or parts[0] != bootstrap[0] or port != bootstrap[1] or len(parts) < 2 \
                        or parts[1] != namespace:
                    problems.append(f"bootstrapServers {m.get('bootstrapServers')!r} is not the namespaced "
                                    f"plain bootstrap {bootstrap} (KEDA runs in another namespace)")
            low, high = dig(so, "spec", "minReplicaCount", default=0), dig(so, "spec", "maxReplicaCount", default=0)
            if not 0 <= low <= high or high < 1:
                problems.append(f"replica range {low}..{high}")
            partitions = [dig(topics.get(t, {}), "spec", "partitions", default=0) for t in stage.inputs]
            if partitions and high > min(partitions):
                problems.append(f"maxReplicaCount {high} > partitions {min(partitions)} (idle consumers)")
        yield Check(overlay, "stage.scaledobject", subject, not problems,
                    "; ".join(problems) or ", ".join(ref(s) for s in scaled))


def retention_ms(topic: Obj) -> int | None:
    return parse_quantity_int(dig(topic, "spec", "config", "retention.ms", default=""))


def check_kafka(overlay: str, objs: list[Obj], truth: Truth) -> Iterator[Check]:
    kafkas = of_kind(objs, "Kafka")
    yield Check(overlay, "kafka.cluster", "Kafka", len(kafkas) == 1, f"{len(kafkas)} Kafka objects")
    if not kafkas:
        return
    kafka = kafkas[0]
    cluster = kafka["metadata"]["name"]
    annotations = kafka["metadata"].get("annotations") or {}
    pools = [p for p in of_kind(objs, "KafkaNodePool") if dig(p, "metadata", "labels", "strimzi.io/cluster") == cluster]
    roles = {r for p in pools for r in dig(p, "spec", "roles", default=[])}
    brokers = sum(dig(p, "spec", "replicas", default=0) for p in pools
                  if "broker" in dig(p, "spec", "roles", default=[]))
    problems = []
    if annotations.get("strimzi.io/kraft") != "enabled" or annotations.get("strimzi.io/node-pools") != "enabled":
        problems.append("annotations strimzi.io/kraft and strimzi.io/node-pools must be 'enabled'")
    if not {"controller", "broker"} <= roles:
        problems.append(f"node pools have roles {sorted(roles)}, need controller and broker")
    yield Check(overlay, "kafka.kraft", ref(kafka), not problems, "; ".join(problems) or f"{brokers} brokers")

    config = dig(kafka, "spec", "kafka", "config", default={})
    broker_isr = parse_quantity_int(config.get("min.insync.replicas", 1)) or 1
    topics = {dig(t, "spec", "topicName") or t["metadata"]["name"]: t for t in of_kind(objs, "KafkaTopic")}
    wanted = list(truth.topics) + [f"{s.group}-__assignor-__leader" for s in truth.stages.values()]
    for name in wanted:
        topic = topics.get(name)
        if topic is None:
            why = ("faust's leader topic (auto-creation is off)" if name.endswith("__leader")
                   else "quilt.core.topics.ALL")
            yield Check(overlay, "kafka.topics", name, False, f"no KafkaTopic for {why}")
            continue
        problems = []
        if dig(topic, "metadata", "labels", "strimzi.io/cluster") != cluster:
            problems.append(f"strimzi.io/cluster label is not {cluster}")
        partitions, replicas = dig(topic, "spec", "partitions", default=0), dig(topic, "spec", "replicas", default=0)
        if partitions < 1 or replicas < 1:
            problems.append(f"partitions {partitions}, replicas {replicas}")
        if replicas > brokers:
            problems.append(f"replicas {replicas} > {brokers} brokers")
        isr = parse_quantity_int(dig(topic, "spec", "config", "min.insync.replicas", default=broker_isr)) or 1
        if isr > replicas or (replicas > 1 and isr >= replicas):
            problems.append(f"min.insync.replicas {isr} with {replicas} replicas: one broker down stops writes")
        if retention_ms(topic) is None or not dig(topic, "spec", "config", "cleanup.policy"):
            problems.append("config lacks retention.ms or cleanup.policy")
        yield Check(overlay, "kafka.topics", name, not problems,
                    "; ".join(problems) or f"{partitions} partitions x {replicas}")

    pairs, dead = topics.get(truth.prefix + "pairs"), topics.get(truth.prefix + "deadletter")
    for topic, minimum, why in ((pairs, PAIRS_MIN_RETENTION_MS, "pairs are the product"),
                                (dead, DEADLETTER_MIN_RETENTION_MS, "dead letters wait for an operator")):
        if topic is None:
            continue
        keep = retention_ms(topic)
        policy = str(dig(topic, "spec", "config", "cleanup.policy", default=""))
        problems = []
        if keep is None or (keep != -1 and keep < minimum):
            problems.append(f"retention.ms {keep} < {minimum} ({why})")
        if "compact" in policy:
            problems.append("compacted: the key is the video id, so a video's earlier messages would be lost")
        yield Check(overlay, "kafka.retention", dig(topic, "spec", "topicName"), not problems,
                    "; ".join(problems) or f"retention.ms {keep}, {policy}")

    for stage in truth.stages.values():
        if len(stage.inputs) > 1:
            counts = {t: dig(topics.get(t, {}), "spec", "partitions") for t in stage.inputs}
            yield Check(overlay, "kafka.copartitioned", f"stage {stage.name}", len(set(counts.values())) == 1,
                        f"one faust agent reads {counts}: partition counts must be equal")


# ---------------------------------------------------------------- secrets and settings


def env_of(container: Obj) -> list[Obj]:
    return list(container.get("env") or [])


def check_secrets(overlay: str, objs: list[Obj], documented: str) -> Iterator[Check]:
    secrets = of_kind(objs, "Secret")
    for secret in secrets:
        literal = [k for k in ("data", "stringData") if secret.get(k)]
        yield Check(overlay, "secrets.no-literal", ref(secret), not literal,
                    f"carries {', '.join(literal)}: create it out of band" if literal else "no data")
    if not secrets:
        yield Check(overlay, "secrets.no-literal", "Secret", True, "no Secret objects in the manifests")
    for cm in of_kind(objs, "ConfigMap"):
        leaks = [k for k in (cm.get("data") or {}) if CREDENTIAL_NAME.search(k)]
        yield Check(overlay, "secrets.no-literal", ref(cm), not leaks,
                    f"credential-like keys {leaks}" if leaks else "no credential-like keys")
    referenced: set[str] = set()
    for obj in workloads(objs):
        for c in containers(pod_spec(obj)):
            leaks = [e["name"] for e in env_of(c) if CREDENTIAL_NAME.search(e["name"]) and "value" in e]
            yield Check(overlay, "secrets.env", f"{ref(obj)}[{c['name']}]", not leaks,
                        f"literal value for {leaks}: use secretKeyRef" if leaks else "credentials by reference")
            referenced.update(str(dig(e, "valueFrom", "secretKeyRef", "name")) for e in env_of(c)
                              if dig(e, "valueFrom", "secretKeyRef"))
            referenced.update(str(dig(s, "secretRef", "name")) for s in c.get("envFrom") or [] if s.get("secretRef"))
    for name in sorted(referenced):
        yield Check(overlay, "secrets.documented", f"Secret/{name}", name in documented,
                    "created out of band: described in docs/runbook.md" if name in documented
                    else "referenced but not described in docs/runbook.md")


def check_settings(overlay: str, objs: list[Obj], truth: Truth) -> Iterator[Check]:
    from quilt.adapters.config import ConfigError, load_settings

    data = config_data(objs)
    namespace = namespace_of(objs)
    unknown = sorted(k for k in data if k.startswith("QUILT_") and k not in truth.env_names | set(PLANNED_ENV))
    try:
        settings = load_settings(env={k: v for k, v in data.items() if k.startswith("QUILT_")},
                                 config_file=None)
        error = ""
    except ConfigError as err:
        settings, error = None, str(err)
    problems = [f"unknown settings {unknown}"] if unknown else []
    if error:
        problems.append(error)
    if not data:
        problems.append("no ConfigMap quilt-config")
    yield Check(overlay, "config.settings", "ConfigMap/quilt-config", not problems,
                "; ".join(problems) or f"{len(data)} keys, all read by quilt.adapters.config")
    for obj in workloads(objs):
        for c in containers(pod_spec(obj)):
            names = [e["name"] for e in env_of(c) if e["name"].startswith("QUILT_")]
            bad = [n for n in names if n not in truth.env_names and n not in PLANNED_ENV]
            if names:
                yield Check(overlay, "config.settings", f"{ref(obj)}[{c['name']}]", not bad,
                            f"env {bad} is read by no code" if bad else "QUILT_* env known")
    if settings is None:
        return
    services = {s["metadata"]["name"]: s for s in of_kind(objs, "Service")}
    yield Check(overlay, "config.endpoints", "QUILT_HOST", settings.host == "0.0.0.0",
                f"{settings.host!r}: probes and Prometheus connect to the pod IP, bind 0.0.0.0")
    bootstrap = kafka_bootstrap(objs)
    host, port = split_hostport(settings.kafka)
    yield Check(overlay, "config.endpoints", "QUILT_KAFKA_BOOTSTRAP",
                bootstrap is not None and service_name_of(host, namespace) == bootstrap[0] and port == bootstrap[1],
                f"{settings.kafka} vs the plain listener {bootstrap}")
    for key, value in (("QUILT_S3_ENDPOINT", settings.s3), ("QUILT_TRITON_URL", settings.triton)):
        host, port = split_hostport(value)
        name = service_name_of(host, namespace)
        svc = services.get(name or "")
        ok = svc is not None and port in [p.get("port") for p in dig(svc, "spec", "ports", default=[])]
        yield Check(overlay, "config.endpoints", key, ok, f"{value} -> Service {name} in {namespace}")


# ---------------------------------------------------------------- Triton, bucket, training


def triton_deployment(objs: list[Obj]) -> Obj | None:
    return next((d for d in of_kind(objs, "Deployment")
                 if any("tritonserver" in " ".join(c.get("args") or c.get("command") or [])
                        for c in containers(pod_spec(d), init=False))), None)


def expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), text)


def check_triton(overlay: str, objs: list[Obj], truth: Truth, gpu: bool) -> Iterator[Check]:
    dep = triton_deployment(objs)
    if dep is None:
        yield Check(overlay, "triton.model-control", "Triton", False, "no Deployment runs tritonserver")
        return
    spec = pod_spec(dep)
    c = next(c for c in containers(spec, init=False)
             if "tritonserver" in " ".join(c.get("args") or c.get("command") or []))
    env = {e["name"]: str(e["value"]) for e in env_of(c) if "value" in e}
    args = [expand(str(a), env) for a in list(c.get("command") or []) + list(c.get("args") or [])]
    loaded = sorted(a.split("=", 1)[1] for a in args if a.startswith("--load-model="))
    problems = []
    if "--model-control-mode=explicit" not in args:
        problems.append("--model-control-mode=explicit missing")
    if loaded != list(truth.models):
        problems.append(f"--load-model {loaded} != triton_models/ {list(truth.models)}")
    yield Check(overlay, "triton.model-control", ref(dep), not problems, "; ".join(problems) or f"loads {loaded}")
    repo = next((a.split("=", 1)[1] for a in args if a.startswith("--model-repository=")), "")
    problems = [] if repo else ["no --model-repository"]
    if repo.startswith("s3://"):
        rest = repo.removeprefix("s3://").removeprefix("http://").removeprefix("https://")
        hostport, _, path = rest.partition("/")
        host, port = split_hostport(hostport)
        svc = named(objs, "Service", service_name_of(host, namespace_of(objs)) or "")
        bucket = config_data(objs).get("QUILT_BUCKET", "")
        if svc is None or port not in [p.get("port") for p in dig(svc, "spec", "ports", default=[])]:
            problems.append(f"{hostport} is no Service port in the namespace")
        if path.split("/")[0] != bucket:
            problems.append(f"bucket {path.split('/')[0]!r} is not QUILT_BUCKET {bucket!r}")
    elif gpu:
        problems.append(f"{repo!r}: the GPU overlay serves the repository in the bucket (s3://)")
    yield Check(overlay, "triton.repository", ref(dep), not problems, "; ".join(problems) or repo)
    if gpu:
        limits = dig(c, "resources", "limits", default={})
        tolerations = [t.get("key") for t in spec.get("tolerations") or []]
        problems = []
        if (parse_quantity_int(limits.get("nvidia.com/gpu", 0)) or 0) < 1:
            problems.append("no nvidia.com/gpu limit")
        if "nvidia.com/gpu" not in tolerations:
            problems.append("no toleration for nvidia.com/gpu taints")
        if not spec.get("nodeSelector") and not spec.get("affinity"):
            problems.append("no nodeSelector/affinity for GPU nodes")
        yield Check(overlay, "triton.gpu", ref(dep), not problems, "; ".join(problems) or "GPU requested")


def check_bucket(overlay: str, objs: list[Obj], truth: Truth) -> Iterator[Check]:
    bucket = config_data(objs).get("QUILT_BUCKET", "")
    cm = named(objs, "ConfigMap", "minio-bucket-config")
    if cm is None:
        yield Check(overlay, "bucket.lifecycle", "ConfigMap/minio-bucket-config", False, "missing")
        return
    try:
        rules = json.loads(cm["data"]["lifecycle.json"])["Rules"]
        policy = json.loads(cm["data"]["policy.json"])
    except (KeyError, ValueError) as err:
        yield Check(overlay, "bucket.lifecycle", ref(cm), False, f"unreadable: {err!r}")
        return
    for rule in rules:
        prefix = str(dig(rule, "Filter", "Prefix", default=rule.get("Prefix", "")))
        ok = any(prefix.startswith(p) for p in truth.expirable) and bool(prefix)
        yield Check(overlay, "bucket.lifecycle", f"rule {rule.get('ID')}", ok,
                    f"expires {prefix!r}" + ("" if ok else f": only {list(truth.expirable)} are transient"))
    resources = {r for s in policy.get("Statement", []) for r in s.get("Resource", [])}
    ok = bool(resources) and all(r.split(":::", 1)[-1].split("/")[0] == bucket for r in resources)
    yield Check(overlay, "bucket.lifecycle", "policy.json", ok, f"resources {sorted(resources)} for bucket {bucket}")
    job = next((j for j in of_kind(objs, "Job")
                if any("mc mb" in " ".join(c.get("args") or []) for c in containers(pod_spec(j)))), None)
    script = " ".join(a for c in containers(pod_spec(job)) for a in c.get("args") or []) if job else ""
    yield Check(overlay, "bucket.lifecycle", ref(job) if job else "Job", "ilm import" in script,
                "a Job creates the bucket and imports the lifecycle rules")


def check_training(overlay: str, objs: list[Obj], gpu: bool) -> Iterator[Check]:
    found = [w for w in workloads(objs)
             if any("training.train" in " ".join(c.get("command") or []) for c in containers(pod_spec(w)))]
    if not gpu and not found:
        return
    bucket = config_data(objs).get("QUILT_BUCKET", "")
    if not found:
        yield Check(overlay, "training.checkpoints", "training", False, "no workload runs training.train")
    for w in found:
        c = next(c for c in containers(pod_spec(w)) if "training.train" in " ".join(c.get("command") or []))
        where = next((str(e.get("value")) for e in env_of(c) if e["name"] == "QUILT_TRAIN_CHECKPOINTS"), "")
        yield Check(overlay, "training.checkpoints", ref(w), where.startswith(f"s3://{bucket}/"),
                    f"QUILT_TRAIN_CHECKPOINTS={where!r} (bucket {bucket})")
        command = [str(part) for part in c.get("command") or []]
        if command and command[0] == "torchrun":
            # One rank per GPU: more ranks than GPUs would share one, fewer would leave GPUs idle.
            ranks = command[command.index("--nproc_per_node") + 1] if "--nproc_per_node" in command else "1"
            gpus = str(dig(c, "resources", "limits", "nvidia.com/gpu", default="0"))
            yield Check(overlay, "training.ranks_per_gpu", ref(w), ranks == gpus,
                        f"torchrun --nproc_per_node {ranks}, nvidia.com/gpu limit {gpus}")


def check_monitoring(overlay: str, objs: list[Obj], truth: Truth) -> Iterator[Check]:
    monitors = of_kind(objs, "ServiceMonitor")
    for svc in of_kind(objs, "Service"):
        stage = dig(svc, "metadata", "labels", "quilt.io/stage")
        if stage not in truth.stages:
            continue
        ports = {p.get("name"): p.get("port") for p in dig(svc, "spec", "ports", default=[])}
        scraped = [m for m in monitors if selector_matches(dig(m, "spec", "selector"), svc["metadata"]["labels"])
                   and any(ports.get(e.get("port")) == truth.stages[stage].metrics_port
                           for e in dig(m, "spec", "endpoints", default=[]))]
        yield Check(overlay, "monitoring.scraped", ref(svc), bool(scraped),
                    ", ".join(ref(m) for m in scraped) or "no ServiceMonitor scrapes its metrics port")
    stages_with_service = {dig(s, "metadata", "labels", "quilt.io/stage") for s in of_kind(objs, "Service")}
    for stage in truth.stages:
        if stage not in stages_with_service:
            yield Check(overlay, "monitoring.scraped", f"stage {stage}", False, "no Service exposes its metrics")


# ---------------------------------------------------------------- network policies


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int], ...] = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def port(self, name_or_number: str | int) -> tuple[int, str]:
        for name, number in self.ports:
            if name_or_number in (name, number):
                return number, name
        return int(name_or_number), ""


def pod_of(obj: Obj, namespace: str) -> Pod:
    ports = [(str(p.get("name", "")), int(p["containerPort"])) for c in containers(pod_spec(obj))
             for p in c.get("ports") or []]
    return Pod(ref(obj), namespace, tuple(sorted(pod_labels(obj).items())), tuple(ports))


def strimzi_policies(objs: list[Obj], namespace: str) -> list[Obj]:
    """The ingress NetworkPolicy Strimzi writes for a cluster's listeners (networkPolicyPeers)."""
    made = []
    for kafka in of_kind(objs, "Kafka"):
        name = kafka["metadata"]["name"]
        rules = [{"ports": [{"protocol": "TCP", "port": lst["port"]}],
                  **({"from": lst["networkPolicyPeers"]} if lst.get("networkPolicyPeers") else {})}
                 for lst in dig(kafka, "spec", "kafka", "listeners", default=[])]
        made.append({"kind": "NetworkPolicy", "metadata": {"name": f"{name}-network-policy-kafka",
                                                           "namespace": namespace},
                     "spec": {"podSelector": {"matchLabels": {"strimzi.io/cluster": name, "strimzi.io/kind": "Kafka",
                                                              "strimzi.io/name": f"{name}-kafka"}},
                              "policyTypes": ["Ingress"], "ingress": rules}})
    return made


def policy_types(policy: Obj) -> list[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress"] + (["Egress"] if "egress" in spec else [])


def peer_matches(peer: Obj, policy_namespace: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # the pod-to-pod paths checked here never go through an ipBlock
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        ns_ok = other.namespace == policy_namespace
    else:
        ns_ok = selector_matches(ns_selector, {"kubernetes.io/metadata.name": other.namespace})
    pod_selector = peer.get("podSelector")
    return ns_ok and (pod_selector is None or selector_matches(pod_selector, other.label_map))


def port_matches(rule_ports: list[Obj] | None, number: int, name: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        port = p.get("port")
        if port is None or port == number or (name and port == name):
            return True
        if isinstance(port, int) and p.get("endPort") and port <= number <= p["endPort"]:
            return True
    return False


def direction_allows(policies: list[Obj], direction: str, subject: Pod, other: Pod, number: int, name: str) -> bool:
    selecting = [p for p in policies if p["metadata"].get("namespace", subject.namespace) == subject.namespace
                 and selector_matches(dig(p, "spec", "podSelector", default={}), subject.label_map)
                 and direction in policy_types(p)]
    if not selecting:
        return True  # not isolated in this direction
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in dig(policy, "spec", key, default=[]) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(peer_matches(p, policy["metadata"].get("namespace", subject.namespace), other)
                                       for p in peers)
            if peer_ok and port_matches(rule.get("ports"), number, name):
                return True
    return False


def flow_allowed(policies: list[Obj], src: Pod, dst: Pod, port: str | int) -> bool:
    number, name = dst.port(port)
    return (direction_allows(policies, "Egress", src, dst, number, name)
            and direction_allows(policies, "Ingress", dst, src, number, name))


def check_network(overlay: str, objs: list[Obj], truth: Truth) -> Iterator[Check]:
    namespace = namespace_of(objs)
    policies = [p for p in of_kind(objs, "NetworkPolicy")]
    default_deny = [p for p in policies if dig(p, "spec", "podSelector") == {}
                    and {"Ingress", "Egress"} <= set(policy_types(p))
                    and not dig(p, "spec", "ingress") and not dig(p, "spec", "egress")]
    yield Check(overlay, "network.default-deny", "NetworkPolicy", bool(default_deny),
                ", ".join(ref(p) for p in default_deny) or "no policy denies all ingress and egress by default")
    policies = policies + strimzi_policies(objs, namespace)
    pods = {dig(w, "metadata", "name"): pod_of(w, namespace) for w in workloads(objs)}
    stages = {s: pod_of(d, namespace) for s in truth.stages if (d := stage_deployment(objs, s)) is not None}
    kafka = next(iter(of_kind(objs, "Kafka")), None)
    cluster = kafka["metadata"]["name"] if kafka else "kafka"
    broker = Pod("Kafka broker", namespace, (("strimzi.io/cluster", cluster), ("strimzi.io/kind", "Kafka"),
                                             ("strimzi.io/name", f"{cluster}-kafka")), (("clients", 9092),))
    bootstrap = kafka_bootstrap(objs)
    kafka_port = bootstrap[1] if bootstrap else 9092
    prometheus = Pod("Prometheus", MONITORING_NAMESPACE, (("app.kubernetes.io/name", "prometheus"),))
    keda = Pod("KEDA operator", KEDA_NAMESPACE, (("app", "keda-operator"),))
    stranger = Pod("a pod in another namespace", "elsewhere", (("app", "stranger"),))
    minio = next((p for p in pods.values() if p.label_map.get("app.kubernetes.io/name") == "minio"), None)
    triton_obj = triton_deployment(objs)
    triton = pod_of(triton_obj, namespace) if triton_obj else None

    required: list[tuple[Pod, Pod, str | int]] = []
    denied: list[tuple[Pod, Pod, str | int]] = []
    s3_clients = [p for p in pods.values() if p.label_map.get("quilt.io/s3-client") == "true"]
    for pod in stages.values():
        required.append((pod, broker, kafka_port))
        required.append((prometheus, pod, "metrics"))
        denied.append((stranger, pod, "grpc"))
        if triton:
            if pod.label_map.get("quilt.io/stage") in ("asr", "histo_filter"):
                required.append((pod, triton, "grpc"))
            else:
                denied.append((pod, triton, "grpc"))
            denied.append((pod, triton, "http"))  # model control is for model admins only
    required.append((keda, broker, kafka_port))
    if minio:
        clients = {p.name: p for p in [*stages.values(), *s3_clients] if p is not minio}  # ordered, unique
        required += [(p, minio, "s3") for p in clients.values()]
        denied.append((stranger, minio, "s3"))
    if triton:
        required.append((prometheus, triton, "metrics"))
        denied.append((stranger, triton, "grpc"))
    for pod in pods.values():
        labels = pod.label_map
        if labels.get("quilt.io/kafka-client") == "true":
            required.append((pod, broker, kafka_port))
        if labels.get("quilt.io/model-admin") == "true" and triton:
            required.append((pod, triton, "http"))
    seen: set[tuple[str, str, str]] = set()
    for wanted, paths in ((True, required), (False, denied)):
        for src, dst, port in paths:
            key = (src.name, dst.name, str(port))
            if key in seen:
                continue
            seen.add(key)
            allowed = flow_allowed(policies, src, dst, port)
            yield Check(overlay, "network.allow" if wanted else "network.deny", f"{src.name} -> {dst.name}:{port}",
                        allowed == wanted, "allowed" if allowed else "denied")


# ---------------------------------------------------------------- one overlay


def check_overlay(overlay: str, objs: list[Obj], truth: Truth, documented: str = "",
                  version: str = K8S_VERSION) -> list[Check]:
    """Every check of one rendered overlay. A GPU overlay is one whose name starts with "gpu"."""
    gpu = overlay.startswith("gpu")
    checks: list[Check] = []
    checks += check_schema(overlay, objs, version)
    checks += check_pods(overlay, objs)
    checks += check_deployments(overlay, objs)
    checks += check_stages(overlay, objs, truth)
    checks += check_kafka(overlay, objs, truth)
    checks += check_secrets(overlay, objs, documented)
    checks += check_settings(overlay, objs, truth)
    checks += check_triton(overlay, objs, truth, gpu)
    checks += check_bucket(overlay, objs, truth)
    checks += check_training(overlay, objs, gpu)
    checks += check_monitoring(overlay, objs, truth)
    checks += check_network(overlay, objs, truth)
    return checks


# ---------------------------------------------------------------- Dockerfile


def dockerfile_stages(text: str) -> list[tuple[str, str, list[str]]]:
    """(image, stage name, instructions) per FROM, with line continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[tuple[str, str, list[str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            image = parts[0] if parts else ""
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            stages.append((image, name, []))
        elif stages:
            stages[-1][2].append(line)
    return stages


def lint_dockerfile(text: str, dockerignore: str = "") -> list[Check]:
    overlay = "dockerfile"
    stages = dockerfile_stages(text)
    names = {name for _, name, _ in stages if name}
    checks = [Check(overlay, "dockerfile.stages", "Dockerfile", bool(stages), f"{len(stages)} stages")]
    used_as_base = {image for image, _, _ in stages if image in names}
    copied_from = set(re.findall(r"--from=(\S+)", text))
    for image, name, lines in stages:
        subject = f"stage {name or image}"
        pinned = image in names or image_pinned(image)
        checks.append(Check(overlay, "dockerfile.from-pinned", subject, pinned,
                            f"FROM {image}" + ("" if pinned else ": not an exact release tag or digest")))
        if name in copied_from or name in used_as_base:
            continue  # a build stage: never run as a container
        users = [line.split(None, 1)[1].strip() for line in lines if line.upper().startswith("USER ")]
        last = users[-1] if users else "root"
        root = last.split(":")[0] in ("root", "0")
        checks.append(Check(overlay, "dockerfile.user", subject, not root, f"runs as {last!r}"))
    checks.append(Check(overlay, "dockerfile.no-latest", "Dockerfile", ":latest" not in text, "no :latest tags"))
    protos = any("gen_protos.py" in line for _, _, lines in stages for line in lines if line.upper().startswith("RUN"))
    checks.append(Check(overlay, "dockerfile.protos", "Dockerfile", protos, "protos generated at build time"))
    ignored = {line.strip().rstrip("/") for line in dockerignore.splitlines() if line.strip()}
    lacking = sorted({".venv", "build", "samples"} - ignored)
    checks.append(Check(overlay, "dockerfile.ignore", ".dockerignore", not lacking,
                        f"does not exclude {lacking}" if lacking else "excludes .venv, build, samples"))
    return checks


# ---------------------------------------------------------------- report


def report(checks: list[Check], verbose: bool) -> None:
    by_overlay: dict[str, dict[str, list[Check]]] = {}
    for c in checks:
        by_overlay.setdefault(c.overlay, {}).setdefault(c.name, []).append(c)
    for overlay, groups in by_overlay.items():
        print(f"\n[{overlay}]")
        for name, group in groups.items():
            bad = [c for c in group if not c.ok]
            print(f"  {'FAIL' if bad else 'ok  '}  {name:<24} {len(group) - len(bad):>4}/{len(group)}")
            for c in group if verbose else bad:
                print(f"          {'ok  ' if c.ok else 'FAIL'} {c.subject}: {c.detail}")


def summary_line(overlays: int, objects: int, checks: list[Check]) -> str:
    failed = sum(not c.ok for c in checks)
    return f"k8s: overlays={overlays} objects={objects} invariants={len(checks)} failed={failed}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render k8s/overlays/* with kustomize and check them offline: Kubernetes schemas "
                    "(kubernetes-validate), custom-resource fields, and the pipeline's invariants against "
                    "the code; also lint the Dockerfile. The last line is "
                    "'k8s: overlays=N objects=M invariants=K failed=F'; the exit status is 1 when F > 0.")
    parser.add_argument("--overlay", action="append", metavar="NAME",
                        help="check only this overlay (repeatable; default: every k8s/overlays/*)")
    parser.add_argument("--kubectl", metavar="PATH", help="kubectl or kustomize binary (default: from PATH)")
    parser.add_argument("--k8s-version", default=K8S_VERSION, help=f"schema version (default {K8S_VERSION})")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every check, not only failures")
    args = parser.parse_args(argv)

    checks: list[Check] = []
    objects = 0
    overlays: list[Path] = []
    try:
        renderer = find_renderer(args.kubectl)
        overlays = overlay_dirs(args.overlay)
    except RenderError as err:
        checks.append(Check("render", "render", "k8s/overlays", False, str(err)))
        renderer = []
    truth = load_truth()
    runbook = ROOT / "docs" / "runbook.md"
    documented = runbook.read_text() if runbook.exists() else ""
    for path in overlays:
        try:
            objs = render(path, renderer)
        except RenderError as err:
            checks.append(Check(path.name, "render", str(path.relative_to(ROOT)), False, str(err)))
            continue
        print(f"{path.name}: {len(objs)} objects from {' '.join(renderer)} {path.relative_to(ROOT)}")
        objects += len(objs)
        checks.append(Check(path.name, "render", str(path.relative_to(ROOT)), bool(objs), f"{len(objs)} objects"))
        checks += check_overlay(path.name, objs, truth, documented, args.k8s_version)
    dockerfile, ignore = ROOT / "Dockerfile", ROOT / ".dockerignore"
    checks += lint_dockerfile(dockerfile.read_text() if dockerfile.exists() else "",
                              ignore.read_text() if ignore.exists() else "")
    report(checks, args.verbose)
    print(summary_line(len(overlays), objects, checks))
    return 1 if any(not c.ok for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
