"""Opening media files with PyAV, turning its errors into the pipeline's StageError."""

from __future__ import annotations

from pathlib import Path

import av

from quilt.core.types import StageError


def corrupt(path: Path, err: BaseException) -> StageError:
    return StageError("corrupt_input", f"cannot decode {path.name}: {type(err).__name__}: {err}")


def open_media(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise corrupt(path, err) from err
