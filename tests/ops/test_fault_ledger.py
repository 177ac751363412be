"""The fault suite's accounting (tests/faults/ledger.py) on hand-made records."""

from __future__ import annotations

from tests.faults.ledger import Totals, VideoEnd, account


def record(pair_id: str, image: str = "frames/v/a.jpg", text: str = "hepatocytes") -> dict:
    return {"pair_id": pair_id, "image": image, "text": text}


def test_a_clean_video_loses_and_duplicates_nothing() -> None:
    item = account("v", ["p1", "p2"], [record("p1"), record("p2", text="bile duct")])
    assert item.clean and item.found == 2 and item.expected == 2


def test_missing_pairs_are_lost_and_extra_ones_are_counted() -> None:
    item = account("v", ["p1", "p2"], [record("p1"), record("p3", text="portal tract")])
    assert item.lost == ["p2"] and item.unexpected == ["p3"] and not item.clean


def test_the_same_image_and_text_under_two_ids_is_a_duplicate() -> None:
    item = account("v", ["p1", "p2"], [record("p1"), record("p2"), record("p1")])
    # p1 twice (one extra record) and three records of one (image, text) (two extra)
    assert item.duplicated == 3 and not item.lost


def test_a_video_is_stuck_unless_it_finished_or_failed_with_a_reason_on_both_paths() -> None:
    assert not VideoEnd("a", finished=True).stuck
    assert not VideoEnd("b", False, "decoder", "corrupt_input", ("corrupt_input",)).stuck
    assert VideoEnd("c", False, "decoder", "corrupt_input", ()).stuck  # no dead letter
    assert VideoEnd("d", False).stuck


def test_totals_and_the_final_line() -> None:
    totals = Totals(faults=12, bad_inputs=16)
    totals.add([account("v", ["p1"], [record("p1")]), account("w", ["q1"], [])],
               [VideoEnd("v", True), VideoEnd("w", False)])
    assert (totals.lost, totals.stuck, totals.ok) == (1, 1, False)
    assert totals.line() == "faults: injected=12 bad_inputs=16 lost=1 duplicated=0 stuck=1"
