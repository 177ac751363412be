"""`quilt bench text` end to end on two held-out sentences, Whisper in-process."""

from __future__ import annotations

import re
import shutil

import pytest

from quilt.cli.main import main
from quilt.evaluation.bench.text_corpus import DEV, HELD_OUT, BenchSentence
from quilt.evaluation.bench.text_eval import Scores, Utterance, false_corrections, normalise, term_found

LINE = re.compile(r"^text: term_acc_raw=\d\.\d{3} term_acc=\d\.\d{3} wer_raw=\d+\.\d{3} wer=\d+\.\d{3} "
                  r"false_corrections=\d\.\d{4} asr_realtime=\d+\.\d{2}$")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_bench_text_prints_the_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "text", "--no-triton", "--limit", "2", "--voices", "en-us:170"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert LINE.match(lines[-1]), lines[-1]


def test_corpora_are_disjoint_and_labelled() -> None:
    assert len(HELD_OUT) >= 30 and sum(s.chatter for s in HELD_OUT) >= 10
    assert not {s.text for s in HELD_OUT} & {s.text for s in DEV}
    assert all(s.terms for s in HELD_OUT if not s.chatter)


def test_term_matching_folds_case_plural_hyphen_and_spacing() -> None:
    assert term_found("Mallory-Denk body", "several mallory denk bodies")
    assert term_found("HMB-45", "stains for HMB45")
    assert term_found("Ki-67", "ki 67 labels")
    assert not term_found("gland", "in England")
    assert normalise("H&E, Ki-67!") == ["h", "and", "e", "ki", "67"]


def test_false_corrections_count_only_right_words_made_wrong() -> None:
    ref = "the bile duct is dilated"
    assert false_corrections(ref, "the myel duct is dilated", "the bile duct is dilated") == 0
    assert false_corrections(ref, "the bile duct is dilated", "the bowel duct is dilated") == 1


def test_scores() -> None:
    med, chat = BenchSentence("the bile duct", ("bile duct",)), BenchSentence("subscribe", (), True)
    s = Scores([Utterance("v", med, "the myel duct", "the bile duct", True, 2.0, 1.0),
                Utterance("v", chat, "subscribe", "subscribe", False, 1.0, 0.5)])
    assert (s.term_accuracy(False), s.term_accuracy(True)) == (0.0, 1.0)
    assert s.wer(True) == 0.0 and s.wer(False) == 0.25
    assert s.chatter_drop() == (1.0, 1.0) and s.realtime() == 2.0
