"""A clean install works: the built wheel, alone in a fresh virtualenv, runs the demo and two benches.

    python scripts/check_clean_install.py [--work DIR] [--keep] [--skip-demo]

Steps (`make test-install`, run by `make test`):
1. copy the checkout's sources (no tests/, no build output) to a scratch folder and build the wheel
   there, so stale files under build/ never reach it; check the wheel holds quiltpb/ and triton_models/;
2. create a fresh virtualenv and install only the wheel into it;
3. make this checkout's dependencies (torch & co., gigabytes) importable there without installing them
   again: a folder of links to every entry of .venv's site-packages except the project's own editable
   hook and metadata, named by a .pth file, and launchers in the new bin/ for their console scripts;
4. check, from a folder outside the checkout with PYTHONPATH unset, that quilt comes from the new
   virtualenv and that tests/ cannot be imported;
5. run `quilt demo` (its own data folder and free ports, so it never meets another stack on the machine),
   `quilt bench keyframes --count 2` and `quilt bench histo --count 20` there.

Ends with one line, `clean-install: wheel=NAME demo=ok keyframes=ok histo=ok ...`; exit code 0 only
if every step passed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = ("quilt", "services", "training", "quiltpb", "triton_models")
# What is never part of a wheel's source, and would only slow the copy down or leak stale files into it.
NOT_SOURCES = (".git", ".venv", "venv", "build", "dist", "samples", "tests", "docs", "k8s", "__pycache__",
               "*.egg-info", ".pytest_cache", ".mypy_cache", ".ruff_cache", "quilt-*-data", ".quilt", "out",
               "*.pyc", "*.log", "quilt.toml")
# Files the wheel must hold: generated protos, the Triton models the stack loads, the embedded data.
WHEEL_MUST_HOLD = ("quiltpb/__init__.py", "quiltpb/v1/messages_pb2.py", "triton_models/__init__.py",
                   "triton_models/whisper/config.pbtxt", "triton_models/whisper/1/model.py",
                   "triton_models/histo_classifier/config.pbtxt", "triton_models/histo_classifier/1/model.py",
                   "triton_models/clip/config.pbtxt", "triton_models/clip/model_template.py",
                   "quilt/data/histo_model.json", "services/runtime.py", "training/configs/tiny.toml")
# Names in .venv's site-packages that belong to the project (an editable install), never to a dependency.
PROJECT_ENTRY = re.compile(r"^(__editable__.*|quilt_stream[-.].*|.*\.pth|__pycache__|"
                           + "|".join(TOP_LEVEL) + r")$")
# The embedded stack's ports (quilt/adapters/config.py); the services take two blocks of SERVICE_COUNT.
PORT_SETTINGS = ("QUILT_S3_PORT", "QUILT_KAFKA_PORT", "QUILT_TRITON_GRPC_PORT", "QUILT_TRITON_HTTP_PORT",
                 "QUILT_TRITON_METRICS_PORT")
SERVICE_COUNT = 6


class CheckFailed(RuntimeError):
    """A step of the check failed; the message says which and where its log is."""


def say(line: str) -> None:
    print(f"[clean-install] {line}", flush=True)


def run_logged(command: Sequence[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None,
               timeout_s: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run with output into `log` (and returned); raise CheckFailed on a non-zero exit or a timeout."""
    try:
        proc = subprocess.run(list(command), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as err:
        partial = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else err.stdout or ""
        log.write_text(f"$ {' '.join(command)}\n(timed out after {timeout_s:.0f} s)\n{partial}")
        raise CheckFailed(f"{Path(command[0]).name} {' '.join(command[1:3])}: timed out after {timeout_s:.0f} s; "
                          f"see {log}") from err
    log.write_text(f"$ {' '.join(command)}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise CheckFailed(f"{' '.join(command)} exited {proc.returncode}; see {log}\n{tail}")
    return proc


# ------------------------------------------------------------------------------------------ the wheel


def build_wheel(work: Path) -> Path:
    """Build the project's wheel from a copy of the sources in `work`; return its path."""
    if not (ROOT / "quiltpb" / "__init__.py").is_file():
        raise CheckFailed("quiltpb/ is not generated: run `make protos` first")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES), symlinks=True)
    out = work / "wheel"
    run_logged([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                "--no-build-isolation", "--wheel-dir", str(out), str(source)], work / "logs" / "wheel.log")
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(f"expected one wheel in {out}, found {[w.name for w in wheels]}")
    with zipfile.ZipFile(wheels[0]) as archive:
        names = set(archive.namelist())
    missing = [name for name in WHEEL_MUST_HOLD if name not in names]
    if missing:
        raise CheckFailed(f"{wheels[0].name} lacks {missing}: see [tool.setuptools] in pyproject.toml")
    if any(name.startswith("tests/") for name in names):
        raise CheckFailed(f"{wheels[0].name} ships tests/")
    return wheels[0]


# ------------------------------------------------------------------------------------- the virtualenv


def site_packages(venv: Path) -> Path:
    probe = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                               check=True).stdout.strip())


def create_venv(venv: Path, wheel: Path, logs: Path) -> None:
    """A virtualenv holding the wheel and nothing else of the project."""
    base_python = getattr(sys, "_base_executable", sys.executable)
    run_logged([base_python, "-m", "venv", "--without-pip", str(venv)], logs / "venv.log")
    # This checkout's pip installs into the new interpreter (pip >= 22.3), before any dependency is visible
    # there: pip then sees no other quilt-stream to replace.
    run_logged([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                "--disable-pip-version-check", "--no-deps", "--no-index", str(wheel)], logs / "install.log")


def dependency_entries() -> Iterator[Path]:
    """Everything in this interpreter's site-packages except the project's own files."""
    seen: set[Path] = set()
    for key in ("purelib", "platlib"):
        folder = Path(sysconfig.get_paths()[key])
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        for entry in sorted(folder.iterdir()):
            if not PROJECT_ENTRY.match(entry.name):
                yield entry


def lend_dependencies(venv: Path, links: Path) -> int:
    """Make this checkout's installed dependencies importable in `venv`; return how many entries were lent."""
    links.mkdir(parents=True)
    count = 0
    for entry in dependency_entries():
        target = links / entry.name
        if not target.exists():
            target.symlink_to(entry)
            count += 1
    # A path line in a .pth appends the folder to sys.path after the venv's own site-packages; .pth files
    # inside it are not run, so .venv's editable hook never is (and it is not linked anyway).
    (site_packages(venv) / "zz_clean_install_dependencies.pth").write_text(f"{links}\n")
    launchers = sum(write_launcher(venv / "bin", point)
                    for dist in importlib.metadata.distributions(path=[str(links)])
                    for point in dist.entry_points.select(group="console_scripts"))
    say(f"lent {count} dependency entries of {sys.prefix} and {launchers} console scripts")
    return count


def write_launcher(bin_dir: Path, point: importlib.metadata.EntryPoint) -> bool:
    """The launcher pip would write for a console script, bound to the new interpreter; False if one exists.

    The stack finds some of them next to its interpreter (localbucket, the S3 store).
    """
    script = bin_dir / point.name
    module, _, attr = point.value.partition(":")
    attr = attr.split("[")[0].strip()
    if script.exists() or not attr:
        return False
    script.write_text(f"#!{bin_dir / 'python'}\nimport sys\nfrom {module.strip()} import {attr.split('.')[0]}\n"
                      f"sys.exit({attr}())\n")
    script.chmod(0o755)
    return True


def clean_env(venv: Path, data_dir: Path) -> dict[str, str]:
    """The environment of the commands: the new venv first on PATH, no PYTHONPATH, no inherited QUILT_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QUILT_") and k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    env["QUILT_DATA_DIR"] = str(data_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for name in PORT_SETTINGS:
        env[name] = str(free_port())
    env["QUILT_GRPC_BASE_PORT"] = str(free_block(SERVICE_COUNT))
    env["QUILT_METRICS_BASE_PORT"] = str(free_block(SERVICE_COUNT))
    return env


ISOLATION_PROBE = """
import importlib.metadata, importlib.util, json, sys
import quilt, services, triton_models
from quilt.stack import locations
print(json.dumps({
    "quilt": quilt.__file__, "services": services.__file__, "triton_models": str(locations.model_repository()),
    "checkout": str(locations.CHECKOUT_ROOT), "tests": bool(importlib.util.find_spec("tests")),
    "metadata": [str(d.locate_file("")) for d in importlib.metadata.distributions()
                 if d.metadata["Name"] == "quilt-stream"],
    "sys_path": sys.path,
}))
"""


def check_isolation(venv: Path, env: dict[str, str], cwd: Path, logs: Path) -> None:
    """The wheel's copy is the only one: imported from the venv, no checkout, no tests/ package."""
    found = json.loads(run_logged([str(venv / "bin" / "python"), "-c", ISOLATION_PROBE], logs / "isolation.log",
                                  env=env, cwd=cwd).stdout)
    inside = str(venv.resolve())
    problems = [f"{name} imported from {found[name]}" for name in ("quilt", "services", "triton_models")
                if not str(Path(found[name]).resolve()).startswith(inside)]
    if found["checkout"] != "None":
        problems.append(f"a checkout is in use: {found['checkout']}")
    if found["tests"]:
        problems.append("`import tests` works")
    if [m for m in found["metadata"] if not str(Path(m).resolve()).startswith(inside)] or not found["metadata"]:
        problems.append(f"quilt-stream metadata at {found['metadata']}")
    # "" on the probe's sys.path is the probe's own working folder (`cwd`), not this script's.
    if any((cwd / p).resolve() == ROOT for p in found["sys_path"]):
        problems.append(f"{ROOT} is on sys.path")
    if problems:
        raise CheckFailed("the clean virtualenv is not clean: " + "; ".join(problems))
    say(f"quilt imported from {found['quilt']}; tests/ not importable")


# ------------------------------------------------------------------------------------------ free ports


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_block(size: int) -> int:
    """The first of `size` consecutive free ports (service i listens on base + i)."""
    for _ in range(50):
        base = free_port()
        if base + size > 65000:
            continue
        with ExitStack() as stack:
            try:
                for offset in range(size):
                    sock = stack.enter_context(closing(socket.socket()))
                    sock.bind(("127.0.0.1", base + offset))
            except OSError:
                continue
            return base
    raise CheckFailed("no block of free ports")


# ------------------------------------------------------------------------------------------ the checks


def last_line(text: str, prefix: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return lines[-1] if lines else ""


def run_command(name: str, args: list[str], venv: Path, env: dict[str, str], cwd: Path, logs: Path,
                timeout_s: float) -> tuple[bool, str]:
    """One `quilt ...` command in the clean venv: (passed, its machine-readable last line)."""
    began = time.monotonic()
    try:
        proc = run_logged([str(venv / "bin" / "quilt"), *args], logs / f"{name}.log", env=env, cwd=cwd,
                          timeout_s=timeout_s)
    except CheckFailed as err:
        say(f"{name}: FAILED: {err}")
        return False, ""
    line = last_line(proc.stdout, f"{name}:")
    say(f"{name}: ok in {time.monotonic() - began:.0f} s: {line}")
    return True, line


def stop_stack(venv: Path, env: dict[str, str], cwd: Path) -> None:
    """Whatever a killed demo left running (the stack's processes have sessions of their own)."""
    subprocess.run([str(venv / "bin" / "quilt"), "stack", "down"], env=env, cwd=cwd, capture_output=True,
                   timeout=120, check=False)


# Each command by name, which is also the prefix of the machine-readable line it ends with.
COMMANDS = (("demo", ["demo"]), ("keyframes", ["bench", "keyframes", "--count", "2"]),
            ("histo", ["bench", "histo", "--count", "20"]))


def check(work: Path, skip_demo: bool, demo_timeout_s: float) -> tuple[str, dict[str, str], list[str]]:
    """Build, install and run everything; (wheel name, "ok"/"fail" per command, the demo's numbers)."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(work)
    say(f"built {wheel.name}")
    venv = work / "venv"
    create_venv(venv, wheel, logs)
    lend_dependencies(venv, work / "dependencies")
    cwd = work / "run"  # outside the checkout: the commands' samples/ and build/ go here
    cwd.mkdir()
    env = clean_env(venv, work / "data")
    check_isolation(venv, env, cwd, logs)
    results: dict[str, str] = {}
    demo_numbers: list[str] = []
    for name, args in COMMANDS:
        if name == "demo" and skip_demo:
            results[name] = "skipped"
            continue
        try:
            passed, line = run_command(name, args, venv, env, cwd, logs, demo_timeout_s if name == "demo" else 600)
        finally:
            if name == "demo":
                stop_stack(venv, env, cwd)
        results[name] = "ok" if passed else "fail"
        if name == "demo":
            demo_numbers = [f"demo_{part}" for part in line.split()[1:]]
    return wheel.name, results, demo_numbers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--work", type=Path, help="an empty scratch folder outside the checkout (default: a new "
                                                  "temporary one, removed after a pass, kept after a failure)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder after a pass too")
    parser.add_argument("--skip-demo", action="store_true", help="only the install and the two benches")
    parser.add_argument("--demo-timeout", type=float, default=1500.0, metavar="S",
                        help="seconds the demo may take, stack start-up included (default 1500)")
    args = parser.parse_args(argv)
    if args.work is not None:
        if args.work.resolve().is_relative_to(ROOT):
            parser.error("--work must be outside the checkout")
        if args.work.exists() and any(args.work.iterdir()):
            parser.error(f"--work {args.work} is not empty")
    work = (args.work or Path(tempfile.mkdtemp(prefix="quilt-clean-install-"))).resolve()
    wheel, results, demo_numbers = "none", {"install": "fail"}, list[str]()
    try:
        wheel, results, demo_numbers = check(work, args.skip_demo, args.demo_timeout)
    except CheckFailed as err:
        say(f"FAILED: {err}")
    passed = all(state in ("ok", "skipped") for state in results.values())
    if passed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        say(f"scratch folder and logs kept in {work}")
    fields = [f"wheel={wheel}", *(f"{name}={state}" for name, state in results.items()), *demo_numbers]
    print(f"clean-install: {' '.join(fields)}", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
