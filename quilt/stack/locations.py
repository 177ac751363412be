"""Where the embedded stack finds its parts: in a source checkout, or in an installed wheel.

A checkout (`make setup`, an editable install) has the packages side by side under the repository
root; a wheel puts the same packages, triton_models/ included, into site-packages and has no
checkout at all. Code that runs the stack asks here instead of assuming a repository root.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import quilt

# The folder the quilt package was imported from: the checkout, or site-packages for a wheel.
PACKAGE_PARENT = Path(quilt.__file__).resolve().parents[1]


def checkout_root(package_parent: Path = PACKAGE_PARENT) -> Path | None:
    """The source checkout quilt runs from, or None when it is installed from a wheel."""
    return package_parent if (package_parent / "pyproject.toml").is_file() else None


CHECKOUT_ROOT = checkout_root()


def model_repository() -> Path:
    """The Triton model repository: the `triton_models` package, wherever it is importable from.

    When it is not importable, the place a checkout or a wheel would have it (next to quilt), so
    that importing this never fails and starting Triton names the missing folder.
    """
    # find_spec runs no code: nothing is imported, so no __pycache__ lands among the models.
    spec = importlib.util.find_spec("triton_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(folders[0]).resolve() if folders else PACKAGE_PARENT / "triton_models"
