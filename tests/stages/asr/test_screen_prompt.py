"""Each ASR window's prompt names the terms the slides around it show."""

from __future__ import annotations

import numpy as np

from quilt.core.types import Segment
from quilt.stages.asr import AsrParams, ScreenShown, screen_shown, transcribe_lecture
from quilt.stages.asr.prompt import default_prompt
from quilt.stages.asr.screen_prompt import terms_near, window_prompts, with_screen_terms
from quilt.stages.common.lexicon import load_lexicon

SHOWN = [ScreenShown(0.0, 20.0, ("colloid", "thyroid")), ScreenShown(50.0, 70.0, ("granuloma",)),
         ScreenShown(100.0, 110.0, ("colloid", "Ki-67"))]


def test_terms_near_a_window_in_order_of_appearance() -> None:
    assert terms_near(SHOWN, 0.0, 30.0, margin_s=10.0) == ["colloid", "thyroid"]
    assert terms_near(SHOWN, 30.0, 60.0, margin_s=10.0) == ["colloid", "thyroid", "granuloma"]
    assert terms_near(SHOWN, 30.0, 60.0, margin_s=0.0) == ["granuloma"]
    assert terms_near(SHOWN, 75.0, 85.0, margin_s=2.0) == []


def test_window_prompts_add_the_terms_to_the_domain_prompt() -> None:
    prompt_at = window_prompts(SHOWN, None)
    assert prompt_at(30.0, 60.0) == f"{default_prompt()} On screen: colloid, thyroid, granuloma."
    assert prompt_at(81.0, 88.0) is None  # nothing within 10 s: the transcriber's own prompt
    assert window_prompts(SHOWN, "Liver lecture.")(95.0, 125.0) == "Liver lecture. On screen: colloid, Ki-67."
    assert window_prompts(SHOWN, "")(0.0, 30.0) == ""  # prompts off stay off
    assert window_prompts([], None)(0.0, 30.0) is None


def test_the_screen_part_is_bounded() -> None:
    many = [f"term{i:03d}" for i in range(200)]
    prompt = with_screen_terms("Base.", many)
    assert prompt.startswith("Base. On screen: term000,") and len(prompt) < 300
    assert with_screen_terms("Base.", []) == "Base."


def test_screen_shown_keeps_known_terms_per_span() -> None:
    lexicon = load_lexicon()
    shown = screen_shown([([(0.0, 5.0), (30.0, 35.0)], "Thyroid gland\nDept. of Pathology"),
                          ([(5.0, 9.0)], "Welcome everyone"), ([(9.0, 12.0)], "")], lexicon)
    assert [(s.t_start, s.t_end) for s in shown] == [(0.0, 5.0), (30.0, 35.0)]
    assert "thyroid gland" in shown[0].terms


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.prompts: list[str | None] = []

    def transcribe(self, audio: np.ndarray, sample_rate: int, initial_prompt: str | None = None,
                   beam_size: int | None = None) -> list[Segment]:
        self.prompts.append(initial_prompt)
        return []


def test_transcribe_lecture_prompts_each_window_with_its_screen_terms() -> None:
    rate = 16000
    windows = [(0.0, np.zeros(30 * rate, np.float32)), (30.0, np.zeros(30 * rate, np.float32)),
               (60.0, np.zeros(30 * rate, np.float32))]
    recorder = _Recorder()
    transcribe_lecture(recorder, windows, rate, AsrParams(initial_prompt="Base."), load_lexicon(),
                       screen=[ScreenShown(65.0, 80.0, ("granuloma",))])
    # Silence: each window is heard once, with its own prompt (the retries need speech to run).
    assert recorder.prompts[0] == "Base."
    assert recorder.prompts[-1] == "Base. On screen: granuloma."
