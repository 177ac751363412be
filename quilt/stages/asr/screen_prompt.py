"""Whisper's prompt for one audio window, with the terms the slides show around it.

A narrator says what is on screen, and says it while it is there or just before or after. So
each window's prompt is the domain prompt (prompt.py) followed by the terms the slides shown
within `margin_s` of the window spell: Whisper continues its prompt's text, so the last words
it read are the ones it leans on most. A window with no screen terms near it keeps the plain
prompt, and a disabled prompt ("") stays disabled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from quilt.stages.asr.prompt import default_prompt
from quilt.stages.common.screen_vocab import ScreenShown
from quilt.stages.common.screen_vocab import terms_near as common_terms_near

MAX_WINDOW_TERMS = 12  # Whisper keeps ~224 prompt tokens; the domain prompt takes about 90
_MAX_TERMS_CHARS = 240


def terms_near(shown: Sequence[ScreenShown], t_start: float, t_end: float, margin_s: float) -> list[str]:
    """The terms of slides on screen within `margin_s` of the window, at most MAX_WINDOW_TERMS."""
    return common_terms_near(shown, t_start, t_end, margin_s, MAX_WINDOW_TERMS)


def with_screen_terms(base: str, terms: Sequence[str]) -> str:
    """`base` + " On screen: a, b, c." (terms cut to a bounded length; `base` may be "")."""
    listed: list[str] = []
    for term in terms:
        if len(", ".join([*listed, term])) > _MAX_TERMS_CHARS:
            break
        listed.append(term)
    if not listed:
        return base
    return f"{base} On screen: {', '.join(listed)}.".strip()


def window_prompts(shown: Sequence[ScreenShown], initial_prompt: str | None,
                   margin_s: float = 10.0) -> Callable[[float, float], str | None]:
    """The prompt for a window spanning [t_start, t_end] seconds of video (Transcriber convention: None = default).

    With prompts off (`initial_prompt == ""`) or nothing on screen near the window, the prompt is
    `initial_prompt` unchanged.
    """
    def prompt_at(t_start: float, t_end: float) -> str | None:
        if initial_prompt == "" or not shown:
            return initial_prompt
        terms = terms_near(shown, t_start, t_end, margin_s)
        if not terms:
            return initial_prompt
        return with_screen_terms(default_prompt() if initial_prompt is None else initial_prompt, terms)

    return prompt_at
