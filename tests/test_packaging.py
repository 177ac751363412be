"""The wheel carries what the embedded stack needs, and the stack finds it without a checkout.

The whole path (build, fresh virtualenv, demo) is `make test-install`; these are its cheap parts.
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

from quilt.stack import locations, triton

REPO = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _matches(relative: str, pattern: str) -> bool:
    """setuptools' package-data glob: `*` stays within one folder."""
    parts, wanted = relative.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def test_the_model_repository_is_the_triton_models_package() -> None:
    assert locations.model_repository() == REPO / "triton_models"
    assert triton.MODEL_REPOSITORY == REPO / "triton_models"
    assert (triton.MODEL_REPOSITORY / "whisper" / "config.pbtxt").is_file()


def test_a_checkout_is_told_from_an_installed_wheel(tmp_path: Path) -> None:
    assert locations.checkout_root() == REPO
    assert locations.checkout_root(tmp_path) is None  # site-packages holds no pyproject.toml


def test_every_model_file_is_package_data() -> None:
    config = _setuptools()
    assert "triton_models" in config["packages"]["find"]["include"]
    patterns = config["package-data"]["triton_models"]
    files = [p.relative_to(REPO / "triton_models").as_posix() for p in (REPO / "triton_models").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"]
    assert files
    assert [f for f in files if not any(_matches(f, pattern) for pattern in patterns)] == []


def test_triton_env_adds_a_checkout_only(tmp_path: Path) -> None:
    assert triton.triton_env(tmp_path, base={})["PYTHONPATH"].split(":")[0] == str(tmp_path)
    paths = triton.triton_env(None, base={})["PYTHONPATH"].split(":")
    assert "" not in paths and "None" not in paths
