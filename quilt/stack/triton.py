"""Run the tritonserver bundled in the nvidia-pytriton wheel against `triton_models/` (MODEL_REPOSITORY).

The same model folder is served by the official Triton container on a GPU host; this
module only papers over what the wheel layout needs on a bare CPU machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

from quilt.stack.locations import CHECKOUT_ROOT, model_repository

MODEL_REPOSITORY = model_repository()
DEFAULT_MODELS = ["whisper", "histo_classifier"]


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become ready in time."""


def pytriton_root() -> Path:
    import pytriton

    return Path(pytriton.__file__).resolve().parent / "tritonserver"


def tritonserver_binary() -> Path:
    return pytriton_root() / "bin" / "tritonserver"


def prepare_backend_dir(work_dir: Path) -> Path:
    """Create `work_dir/backends/python` and return `work_dir/backends` (idempotent)."""
    root = pytriton_root()
    be = work_dir / "backends"
    py_be = be / "python"
    py_be.mkdir(parents=True, exist_ok=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        src = root / "backends" / "python" / name
        dst = py_be / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub_src = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub_src.exists():
        raise TritonStartError(f"pytriton ships no python backend stub for Python {version}")
    stub = py_be / "triton_python_backend_stub"
    # A symlink, not a copy: the stub's RPATH ($ORIGIN/../../../../nvidia_pytriton.libs) must
    # resolve inside site-packages.
    if stub.is_symlink() or stub.exists():
        if stub.is_symlink() and Path(os.readlink(stub)) == stub_src:
            return be
        stub.unlink()
    stub.symlink_to(stub_src)
    return be


def triton_env(repo_root: Path | None = CHECKOUT_ROOT, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for tritonserver so its stubs run this venv's interpreter and packages.

    `repo_root`, a checkout, goes first on the stubs' import path; None (an installed wheel) adds nothing.
    """
    env = dict(os.environ if base is None else base)
    # Without the base interpreter's libpython first, the stub links Debian's libpython3.11 and
    # the venv's stdlib modules then fail (`_thread.RLock` has no `_recursion_count`).
    libdir = str(sysconfig.get_config_var("LIBDIR") or "")
    ld = [p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(ld)
    # The stub embeds Python and ignores PYTHONPATH; it finds its interpreter by looking up
    # `python3` on PATH, and only a venv's python3 (next to pyvenv.cfg) brings the venv's
    # site-packages. So the venv's bin goes first on PATH.
    if sys.prefix != sys.base_prefix:
        venv_bin = str(Path(sys.prefix) / "bin")
        env["PATH"] = os.pathsep.join(p for p in (venv_bin, env.get("PATH", "")) if p)
        env["VIRTUAL_ENV"] = sys.prefix
    site_packages = sysconfig.get_paths()["purelib"]
    py = [str(repo_root) if repo_root else "", site_packages, env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in py if p)
    # Two cores: keep numpy/ctranslate2 inside the stubs from oversubscribing them.
    env.setdefault("OMP_NUM_THREADS", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def triton_command(
    model_repository: Path,
    backend_dir: Path,
    grpc_port: int,
    http_port: int,
    metrics_port: int,
    model_control: str = "explicit",
    models: Sequence[str] = DEFAULT_MODELS,
) -> list[str]:
    """tritonserver argv listening on loopback only."""
    cmd = [
        str(tritonserver_binary()),
        f"--model-repository={model_repository}",
        f"--backend-directory={backend_dir}",
        "--grpc-address=127.0.0.1", f"--grpc-port={grpc_port}",
        "--http-address=127.0.0.1", f"--http-port={http_port}",
        "--metrics-address=127.0.0.1", f"--metrics-port={metrics_port}",
        "--allow-gpu-metrics=false", "--allow-cpu-metrics=false",
        # Small pools: the box has two cores and the models do their own threading.
        "--http-thread-count=2",
        "--pinned-memory-pool-byte-size=0",
        "--exit-on-error=true",
        "--log-verbose=0",
        f"--model-control-mode={model_control}",
    ]
    if model_control == "explicit":
        cmd += [f"--load-model={m}" for m in models]
    elif model_control != "none":
        raise ValueError(f"unsupported model_control {model_control!r}")
    return cmd


def log_tail(log_file: Path | None, lines: int = 30) -> str:
    if log_file is None or not log_file.exists():
        return ""
    text = log_file.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def wait_triton_ready(
    grpc_url: str,
    models: list[str],
    timeout_s: float,
    log_file: Path | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until the server and every model report ready, else raise TritonStartError."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(grpc_url)
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    try:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                last = f"tritonserver exited with code {proc.returncode}"
                break
            try:
                if client.is_server_ready():
                    pending = [m for m in models if not client.is_model_ready(m)]
                    if not pending:
                        return
                    last = f"models not ready: {pending}"
                else:
                    last = "server not ready"
            except Exception as exc:  # connection refused until the gRPC port opens
                last = f"{type(exc).__name__}: {exc}".splitlines()[0]
            time.sleep(0.25)
    finally:
        client.close()
    tail = log_tail(log_file)
    msg = f"Triton at {grpc_url} not ready after {timeout_s:.0f}s ({last})"
    raise TritonStartError(msg + (f"\n--- {log_file} tail ---\n{tail}" if tail else ""))


def start_triton(
    work_dir: Path,
    grpc_port: int,
    http_port: int,
    metrics_port: int,
    model_repository: Path = MODEL_REPOSITORY,
    models: Sequence[str] = DEFAULT_MODELS,
    log_file: Path | None = None,
    ready_timeout_s: float | None = 120.0,
) -> subprocess.Popen[bytes]:
    """Start tritonserver with output in `log_file` and, unless timeout is None, wait for readiness."""
    work_dir.mkdir(parents=True, exist_ok=True)
    backend_dir = prepare_backend_dir(work_dir)
    log_file = log_file or work_dir / "tritonserver.log"
    cmd = triton_command(model_repository, backend_dir, grpc_port, http_port, metrics_port,
                         "explicit", models)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(cmd, env=triton_env(CHECKOUT_ROOT), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    if ready_timeout_s is not None:
        try:
            wait_triton_ready(f"127.0.0.1:{grpc_port}", list(models), ready_timeout_s, log_file, proc)
        except BaseException:
            stop_triton(proc)
            raise
    return proc


def stop_triton(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM lets Triton unload models (and end its stubs); SIGKILL the group if it hangs."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait(5)
