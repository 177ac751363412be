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


SCREEN_LINE = re.compile(r"^text-screen: shown_terms=\d\.\d{3} shown_terms_with_screen=\d\.\d{3} "
                         r"other_terms=\d\.\d{3} other_terms_with_screen=\d\.\d{3} false_corrections=\d\.\d{4} "
                         r"false_corrections_with_screen=\d\.\d{4} ocr_recall=(\d\.\d{3})$")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_bench_text_screen_compares_without_and_with_the_slides_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "text", "--no-triton", "--dev", "--screen", "--limit", "3", "--voices", "en-gb:150"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    found = SCREEN_LINE.match(lines[-1])
    assert found, lines[-1]
    assert float(found.group(1)) == 1.0  # every term its slide showed was read back off the slide


def test_each_slide_shows_about_half_the_terms_and_ocr_reads_them() -> None:
    from quilt.evaluation.bench.screen_bench import render_slide, shown_terms
    from quilt.stages.common.lexicon import load_lexicon
    from quilt.stages.common.screen_text import read_screen_text
    from quilt.stages.common.screen_vocab import screen_terms

    sentence = BenchSentence("x", ("granuloma", "caseous necrosis", "Langhans giant cell"))
    assert shown_terms(sentence, 0) == ("granuloma", "Langhans giant cell")
    assert shown_terms(sentence, 1) == ("caseous necrosis",)
    lexicon = load_lexicon()
    for number in range(3):  # the three slide looks, light and dark
        shown = shown_terms(sentence, number)
        vocabulary = screen_terms(read_screen_text(render_slide(shown, number)).text, lexicon)
        assert all(any(term_found(t, v) for v in vocabulary) for t in shown), (shown, vocabulary)


def test_screen_scores_split_shown_from_other_terms() -> None:
    from quilt.evaluation.bench.screen_bench import ScreenScores, ScreenUtterance

    sentence = BenchSentence("The granuloma has caseous necrosis.", ("granuloma", "caseous necrosis"))
    utt = ScreenUtterance("v", sentence, ("granuloma",), ["granuloma"], "The granny loma has caseous necrosis.",
                          "The granny loma has caseous necrosis.", "The granuloma has case necrosis.",
                          "The granuloma has case necrosis.")
    scores = ScreenScores([utt])
    assert (scores.term_accuracy(True, False), scores.term_accuracy(True, True)) == (0.0, 1.0)
    assert (scores.term_accuracy(False, False), scores.term_accuracy(False, True)) == (1.0, 0.0)
    assert scores.ocr_recall() == 1.0
