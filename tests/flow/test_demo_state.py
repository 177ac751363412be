"""How `quilt demo` judges each sample lecture (pure: no stack)."""

from __future__ import annotations

from quilt.cli.demo import demo_state

DONE = {"state": "done"}


def aligner(**detail: int) -> dict[str, dict]:
    return {"decoder": DONE, "aligner": {"state": "done", "detail": detail}}


def test_a_lecture_with_pairs_came_through() -> None:
    assert demo_state(True, aligner(pairs=3, repeated_frames=0, duplicates=0), 3) == (True, "done")


def test_a_repeat_of_a_paired_lecture_comes_through_with_no_new_pairs() -> None:
    # The samples submitted again from another checkout: every frame repeats, every text was paired before.
    ok, state = demo_state(True, aligner(pairs=0, repeated_frames=6, duplicates=3), 0)
    assert ok and "repeat" in state


def test_no_pairs_without_repeats_a_failure_or_a_timeout_fail_the_demo() -> None:
    assert demo_state(True, aligner(pairs=0, repeated_frames=0, duplicates=0), 0) == (False, "done, but no pairs")
    failed = {"asr": {"state": "failed", "reason": "model_unavailable"}}
    assert demo_state(True, failed, 0) == (False, "asr: model_unavailable")
    assert demo_state(False, {}, 0) == (False, "timeout")
