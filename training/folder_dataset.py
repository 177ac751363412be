"""Class-per-folder benchmark datasets (`root/<class>/<image>`), as most pathology benchmarks ship."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .evaluation import EvalExample
from .model import image_tensor

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def list_class_folders(root: Path) -> tuple[list[str], list[tuple[Path, str]]]:
    """Class names (sorted folder names, `_` read as a space) and (image path, class) for every image."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark folder {root} does not exist")
    classes: list[str] = []
    items: list[tuple[Path, str]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder.name.replace("_", " ")
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            classes.append(name)
            items.extend((p, name) for p in images)
    if len(classes) < 2:
        raise ValueError(f"{root} needs at least two class folders with images, found {classes}")
    return classes, items


def load_class_folders(root: Path, size: int, limit_per_class: int | None = None
                       ) -> tuple[list[str], list[EvalExample]]:
    classes, items = list_class_folders(root)
    taken: dict[str, int] = {}
    examples = []
    for path, name in items:
        if limit_per_class is not None and taken.get(name, 0) >= limit_per_class:
            continue
        taken[name] = taken.get(name, 0) + 1
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
        examples.append(EvalExample(image=image_tensor(rgb, size), text="", label=name))
    return classes, examples
