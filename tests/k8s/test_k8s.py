"""The Kubernetes manifests (k8s/) pass scripts/k8s_check.py, and its checks can fail.

Offline: kustomize renders the overlays (kubectl's built-in kustomize), kubernetes-validate
carries the schemas. Each negative test breaks one thing in a rendered overlay and asserts
that exactly the invariant guarding it fails.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "k8s_check.py"
FINAL = re.compile(r"^k8s: overlays=(\d+) objects=(\d+) invariants=(\d+) failed=(\d+)$")

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None and shutil.which("kustomize") is None,
                                reason="needs kubectl (or kustomize) to render the overlays")

Obj = dict[str, Any]


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["k8s_check"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


kc = load_checker()


@pytest.fixture(scope="module")
def truth() -> Any:
    return kc.load_truth()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    renderer = kc.find_renderer()
    return {path.name: kc.render(path, renderer) for path in kc.overlay_dirs()}


@pytest.fixture(scope="module")
def runbook() -> str:
    return (ROOT / "docs" / "runbook.md").read_text()


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    obj = kc.named(objs, kind, name)
    assert obj is not None, f"{kind}/{name} not rendered"
    return obj


def broken(objs: list[Obj], change: Callable[[list[Obj]], None]) -> list[Obj]:
    copied = copy.deepcopy(objs)
    change(copied)
    return copied


def failures(checks: list[Any], name: str) -> list[Any]:
    return [c for c in checks if c.name == name and not c.ok]


def container(objs: list[Obj], kind: str, name: str) -> Obj:
    return kc.pod_spec(find(objs, kind, name))["containers"][0]


# ---------------------------------------------------------------- the real manifests pass


def test_script_passes_and_prints_the_final_line(rendered: dict[str, list[Obj]]) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert [line for line in lines if line.startswith("k8s:")] == [lines[-1]]
    match = FINAL.match(lines[-1])
    assert match, lines[-1]
    overlays, objects, invariants, failed = map(int, match.groups())
    assert overlays == len(rendered) == 2
    assert objects == sum(len(objs) for objs in rendered.values())
    assert failed == 0
    assert invariants > 300  # schema + invariants of two overlays + the Dockerfile lint


def test_help() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "k8s: overlays=N objects=M invariants=K failed=F" in " ".join(proc.stdout.split())


def test_every_overlay_passes_every_check(rendered: dict[str, list[Obj]], truth: Any, runbook: str) -> None:
    assert set(rendered) == {"dev", "gpu-prod"}
    for overlay, objs in rendered.items():
        checks = kc.check_overlay(overlay, objs, truth, runbook)
        assert not [c for c in checks if not c.ok], overlay
        names = {c.name for c in checks}
        assert {"schema", "deployment.probes", "deployment.pdb", "stage.scaledobject", "kafka.topics",
                "secrets.no-literal", "images.pinned", "network.allow", "network.deny"} <= names
        assert ("triton.gpu" in names) == overlay.startswith("gpu")


def test_an_unknown_overlay_fails_with_the_final_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert kc.main(["--overlay", "nope"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert FINAL.match(last) and last.endswith("failed=1"), last


def test_the_truth_comes_from_the_code(truth: Any) -> None:
    from quilt.adapters.config import SERVICES
    from quilt.core import topics

    assert list(truth.stages) == list(SERVICES)
    assert truth.stages["aligner"].inputs == ("quilt.text.denoised", "quilt.frames.filtered")
    assert truth.stages["histo_filter"].group == "quilt-histo_filter"
    assert truth.stages["asr"].grpc_port == 50063 and truth.stages["asr"].metrics_port == 9163
    assert len(truth.topics) == len(topics.ALL)
    assert truth.models == ("histo_classifier", "whisper")
    assert "QUILT_WHISPER_MODEL" in truth.env_names  # read by quilt.stages.asr.whisper, not a Settings field


# ---------------------------------------------------------------- each invariant can fail


def test_a_missing_probe_fails(rendered: dict[str, list[Obj]]) -> None:
    objs = broken(rendered["dev"], lambda o: container(o, "Deployment", "quilt-asr").pop("readinessProbe"))
    bad = failures(list(kc.check_deployments("dev", objs)), "deployment.probes")
    assert [c.subject for c in bad] == ["Deployment/quilt-asr[stage]"]


def test_a_missing_pdb_fails(rendered: dict[str, list[Obj]]) -> None:
    objs = broken(rendered["gpu-prod"], lambda o: o.remove(find(o, "PodDisruptionBudget", "quilt-decoder")))
    bad = failures(list(kc.check_deployments("gpu-prod", objs)), "deployment.pdb")
    assert [c.subject for c in bad] == ["Deployment/quilt-decoder"]


def test_a_pdb_that_blocks_every_eviction_fails(rendered: dict[str, list[Obj]]) -> None:
    def change(objs: list[Obj]) -> None:
        spec = find(objs, "PodDisruptionBudget", "triton")["spec"]
        spec.pop("maxUnavailable")
        spec["minAvailable"] = 2

    bad = failures(list(kc.check_deployments("gpu-prod", broken(rendered["gpu-prod"], change))), "deployment.pdb")
    assert [c.subject for c in bad] == ["Deployment/triton"]


def test_graceful_shutdown_is_required(rendered: dict[str, list[Obj]]) -> None:
    def change(objs: list[Obj]) -> None:
        container(objs, "Deployment", "quilt-fetcher").pop("lifecycle")
        kc.pod_spec(find(objs, "Deployment", "quilt-asr"))["terminationGracePeriodSeconds"] = 60

    bad = failures(list(kc.check_deployments("dev", broken(rendered["dev"], change))), "deployment.shutdown")
    assert sorted(c.subject for c in bad) == ["Deployment/quilt-asr[stage]", "Deployment/quilt-fetcher[stage]"]


def test_resources_and_security_context_are_required(rendered: dict[str, list[Obj]]) -> None:
    def change(objs: list[Obj]) -> None:
        container(objs, "Deployment", "quilt-denoiser")["resources"].pop("limits")
        container(objs, "StatefulSet", "minio")["securityContext"]["readOnlyRootFilesystem"] = False

    checks = list(kc.check_pods("dev", broken(rendered["dev"], change)))
    assert [c.subject for c in failures(checks, "pod.resources")] == ["Deployment/quilt-denoiser[stage]"]
    assert [c.subject for c in failures(checks, "pod.security")] == ["StatefulSet/minio[minio]"]


def test_an_unpinned_image_fails(rendered: dict[str, list[Obj]]) -> None:
    def change(objs: list[Obj]) -> None:
        container(objs, "Deployment", "quilt-aligner")["image"] = "ghcr.io/quilt-stream/quilt-services:latest"
        container(objs, "Job", "minio-bucket-setup")["image"] = "quay.io/minio/mc"

    bad = failures(list(kc.check_pods("gpu-prod", broken(rendered["gpu-prod"], change))), "images.pinned")
    assert sorted(c.subject for c in bad) == ["Deployment/quilt-aligner[stage]", "Job/minio-bucket-setup[mc]"]


def test_a_scaledobject_must_match_the_service_spec(rendered: dict[str, list[Obj]], truth: Any) -> None:
    def change(objs: list[Obj]) -> None:
        find(objs, "ScaledObject", "quilt-aligner")["spec"]["triggers"].pop()  # frames.filtered no longer counted
        find(objs, "ScaledObject", "quilt-asr")["spec"]["triggers"][0]["metadata"]["topic"] = "quilt.transcripts"
        find(objs, "ScaledObject", "quilt-denoiser")["spec"]["triggers"][0]["metadata"]["consumerGroup"] = "denoiser"
        find(objs, "ScaledObject", "quilt-decoder")["spec"]["maxReplicaCount"] = 50  # more than 12 partitions

    bad = failures(list(kc.check_stages("gpu-prod", broken(rendered["gpu-prod"], change), truth)), "stage.scaledobject")
    details = {c.subject: c.detail for c in bad}
    assert set(details) == {"stage aligner", "stage asr", "stage denoiser", "stage decoder"}
    assert "SPEC.inputs" in details["stage aligner"] and "SPEC.inputs" in details["stage asr"]
    assert "quilt-denoiser" in details["stage denoiser"]
    assert "partitions" in details["stage decoder"]


def test_a_stage_without_scaledobject_fails(rendered: dict[str, list[Obj]], truth: Any) -> None:
    objs = broken(rendered["dev"], lambda o: o.remove(find(o, "ScaledObject", "quilt-histo-filter")))
    bad = failures(list(kc.check_stages("dev", objs, truth)), "stage.scaledobject")
    assert [c.subject for c in bad] == ["stage histo_filter"]


def test_a_stage_probe_on_the_wrong_port_fails(rendered: dict[str, list[Obj]], truth: Any) -> None:
    objs = broken(rendered["dev"], lambda o: container(o, "Deployment", "quilt-decoder")["livenessProbe"]["grpc"]
                  .update(port=50061))
    bad = failures(list(kc.check_stages("dev", objs, truth)), "stage.deployment")
    assert [c.subject for c in bad] == ["stage decoder"]


def test_topics_must_exist_and_keep_what_matters(rendered: dict[str, list[Obj]], truth: Any) -> None:
    def change(objs: list[Obj]) -> None:
        objs.remove(find(objs, "KafkaTopic", "quilt.transcripts"))
        find(objs, "KafkaTopic", "quilt.pairs")["spec"]["config"]["cleanup.policy"] = "compact"
        find(objs, "KafkaTopic", "quilt.deadletter")["spec"]["config"]["retention.ms"] = str(86_400_000)
        find(objs, "KafkaTopic", "quilt.frames.filtered")["spec"]["partitions"] = 6

    checks = list(kc.check_kafka("gpu-prod", broken(rendered["gpu-prod"], change), truth))
    assert [c.subject for c in failures(checks, "kafka.topics")] == ["quilt.transcripts"]
    assert sorted(c.subject for c in failures(checks, "kafka.retention")) == ["quilt.deadletter", "quilt.pairs"]
    assert [c.subject for c in failures(checks, "kafka.copartitioned")] == ["stage aligner"]


def test_faust_leader_topics_are_declared(rendered: dict[str, list[Obj]], truth: Any) -> None:
    objs = broken(rendered["dev"], lambda o: o.remove(find(o, "KafkaTopic", "quilt-asr-assignor-leader")))
    bad = failures(list(kc.check_kafka("dev", objs, truth)), "kafka.topics")
    assert [c.subject for c in bad] == ["quilt-asr-__assignor-__leader"]


def test_secrets_never_carry_literal_credentials(rendered: dict[str, list[Obj]], runbook: str) -> None:
    def change(objs: list[Obj]) -> None:
        objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "quilt-credentials"},
                     "stringData": {"s3-secret-key": "hunter2"}})
        env = container(objs, "Deployment", "quilt-fetcher")["env"]
        env.append({"name": "QUILT_LLM_API_KEY", "value": "sk-123"})
        find(objs, "ConfigMap", "quilt-config")["data"]["QUILT_S3_SECRET_KEY"] = "oops"

    checks = list(kc.check_secrets("dev", broken(rendered["dev"], change), runbook))
    assert sorted(c.subject for c in failures(checks, "secrets.no-literal")) == [
        "ConfigMap/quilt-config", "Secret/quilt-credentials"]
    assert [c.subject for c in failures(checks, "secrets.env")] == ["Deployment/quilt-fetcher[stage]"]


def test_referenced_secrets_must_be_documented(rendered: dict[str, list[Obj]]) -> None:
    bad = failures(list(kc.check_secrets("dev", rendered["dev"], "nothing here")), "secrets.documented")
    assert sorted(c.subject for c in bad) == ["Secret/quilt-credentials", "Secret/quilt-minio-root"]


def test_settings_must_be_real_and_point_at_services(rendered: dict[str, list[Obj]], truth: Any) -> None:
    def change(objs: list[Obj]) -> None:
        data = find(objs, "ConfigMap", "quilt-config")["data"]
        data["QUILT_S3_ENDPIONT"] = data.pop("QUILT_S3_ENDPOINT")  # a typo: the default would be used
        data["QUILT_TRITON_URL"] = "triton.quilt.svc:9999"

    checks = list(kc.check_settings("dev", broken(rendered["dev"], change), truth))
    assert "QUILT_S3_ENDPIONT" in failures(checks, "config.settings")[0].detail
    assert sorted(c.subject for c in failures(checks, "config.endpoints")) == ["QUILT_S3_ENDPOINT", "QUILT_TRITON_URL"]


def test_triton_on_gpu_with_explicit_model_control(rendered: dict[str, list[Obj]], truth: Any) -> None:
    def change(objs: list[Obj]) -> None:
        dep = find(objs, "Deployment", "triton")
        c = kc.pod_spec(dep)["containers"][0]
        for part in ("requests", "limits"):
            c["resources"][part].pop("nvidia.com/gpu")
        kc.pod_spec(dep).pop("tolerations")
        c["args"] = [a.replace("explicit", "poll") for a in c["args"] if a != "--load-model=whisper"]

    checks = list(kc.check_triton("gpu-prod", broken(rendered["gpu-prod"], change), truth, gpu=True))
    gpu = failures(checks, "triton.gpu")
    assert len(gpu) == 1 and "nvidia.com/gpu limit" in gpu[0].detail and "toleration" in gpu[0].detail
    control = failures(checks, "triton.model-control")
    assert len(control) == 1 and "explicit" in control[0].detail and "whisper" in control[0].detail


def test_the_gpu_overlay_reads_models_from_the_bucket(rendered: dict[str, list[Obj]], truth: Any) -> None:
    # dev serves the repository baked into the image; the same manifests as "gpu" must fail.
    bad = failures(list(kc.check_triton("gpu-test", rendered["dev"], truth, gpu=True)), "triton.repository")
    assert len(bad) == 1 and "s3://" in bad[0].detail


def test_training_runs_one_rank_per_gpu(rendered: dict[str, list[Obj]]) -> None:
    assert not failures(list(kc.check_training("gpu-prod", rendered["gpu-prod"], gpu=True)), "training.ranks_per_gpu")

    def change(objs: list[Obj]) -> None:
        command = container(objs, "StatefulSet", "quilt-training")["command"]
        command[command.index("--nproc_per_node") + 1] = "4"  # four ranks on the pod's one GPU

    bad = failures(list(kc.check_training("gpu-prod", broken(rendered["gpu-prod"], change), gpu=True)),
                   "training.ranks_per_gpu")
    assert len(bad) == 1 and "--nproc_per_node 4, nvidia.com/gpu limit 1" in bad[0].detail


def test_schema_errors_are_caught(rendered: dict[str, list[Obj]]) -> None:
    def change(objs: list[Obj]) -> None:
        container(objs, "Deployment", "quilt-aligner")["livenessProbe"]["grpcc"] = {"port": 1}
        find(objs, "Service", "minio")["spec"]["ports"][0]["port"] = "nine-thousand"
        find(objs, "ScaledObject", "quilt-fetcher")["spec"].pop("triggers")
        objs.append({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}})

    bad = failures(list(kc.check_schema("dev", broken(rendered["dev"], change))), "schema")
    assert sorted(c.subject for c in bad) == ["Deployment/quilt-aligner", "Gadget/x", "ScaledObject/quilt-fetcher",
                                              "Service/minio"]


def test_network_policies_are_evaluated(rendered: dict[str, list[Obj]], truth: Any) -> None:
    def change(objs: list[Obj]) -> None:
        objs.remove(find(objs, "NetworkPolicy", "triton-clients-egress"))
        objs.remove(find(objs, "NetworkPolicy", "default-deny"))
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "too-open", "namespace": "quilt"},
                     "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}})

    checks = list(kc.check_network("dev", broken(rendered["dev"], change), truth))
    assert failures(checks, "network.default-deny")
    assert sorted(c.subject for c in failures(checks, "network.allow")) == [
        "Deployment/quilt-asr -> Deployment/triton:grpc", "Deployment/quilt-histo-filter -> Deployment/triton:grpc"]
    denied_now_open = {c.subject for c in failures(checks, "network.deny")}
    assert "a pod in another namespace -> StatefulSet/minio:s3" in denied_now_open


def test_the_lifecycle_never_expires_the_product(rendered: dict[str, list[Obj]], truth: Any) -> None:
    def change(objs: list[Obj]) -> None:
        data = find(objs, "ConfigMap", "minio-bucket-config")["data"]
        rules = json.loads(data["lifecycle.json"])
        rules["Rules"].append({"ID": "oops", "Status": "Enabled", "Filter": {"Prefix": "pairs/"},
                               "Expiration": {"Days": 1}})
        data["lifecycle.json"] = json.dumps(rules)

    bad = failures(list(kc.check_bucket("dev", broken(rendered["dev"], change), truth)), "bucket.lifecycle")
    assert [c.subject for c in bad] == ["rule oops"]


def test_dockerfile_lint() -> None:
    good = (ROOT / "Dockerfile").read_text()
    ignore = (ROOT / ".dockerignore").read_text()
    assert not [c for c in kc.lint_dockerfile(good, ignore) if not c.ok]
    checks = kc.lint_dockerfile("FROM python:3.11-slim AS build\nRUN true\n"
                                "FROM python:latest\nCOPY --from=build /x /x\nUSER root\n", "build\n")
    assert {c.name for c in checks if not c.ok} == {"dockerfile.from-pinned", "dockerfile.user",
                                                    "dockerfile.no-latest", "dockerfile.protos", "dockerfile.ignore"}
    as_root = kc.lint_dockerfile(good.replace("USER 10001:10001", "USER 0"), ignore)
    assert [c.subject for c in failures(as_root, "dockerfile.user")] == ["stage services"]


# ---------------------------------------------------------------- the dashboard


def test_dashboard_uses_the_services_metric_names() -> None:
    runtime = (ROOT / "services" / "runtime.py").read_text()
    defined = {}
    for kind, name in re.findall(r"(Counter|Gauge|Histogram)\(\s*\"(\w+)\"", runtime):
        base = name.removesuffix("_total")
        defined.update({"Counter": {f"{base}_total": name},
                        "Gauge": {name: name},
                        "Histogram": {f"{name}_{s}": name for s in ("bucket", "sum", "count")}}[kind])
    dashboard = json.loads((ROOT / "docs" / "grafana" / "quilt-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\b(quilt_\w+)\b", e)}
    assert used and used <= set(defined), used - set(defined)
    assert {defined[m] for m in used} == set(re.findall(r"(?:Counter|Gauge|Histogram)\(\s*\"(\w+)\"", runtime))
    assert any("kafka_consumergroup_lag" in e for e in exprs)
    assert any('topic="deadletter"' in e for e in exprs)
