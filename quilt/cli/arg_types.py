"""argparse `type=` converters shared by the commands, so bad numbers get the same clear message everywhere."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def number_above_zero(what: str) -> Callable[[str], float]:
    """A finite float > 0; `what` names it in the error ("minutes", "hours of video per day")."""

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, a number above 0, got {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be a number above 0, got {text!r}")
        return value

    return convert


def width_by_height(text: str) -> tuple[int, int]:
    """A frame size `WxH`, e.g. 854x480."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 854x480, got {text!r}") from None
    return width, height
