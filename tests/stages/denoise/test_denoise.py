"""The lexicon denoiser on hand-made ASR output (pure, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quilt.core.types import Segment, Word
from quilt.stages.common.corrector import (
    DENOISER_NAME,
    Lexicon,
    denoise,
    load_lexicon,
    phonetic_key,
    read_hunspell_words,
)


def words(text: str, t0: float = 0.0, doubtful: tuple[str, ...] = (), step: float = 0.5) -> list[Word]:
    """Whisper-like words: leading space, punctuation attached, low probability for `doubtful`."""
    out = []
    for i, token in enumerate(text.split()):
        core = token.strip(".,!?")
        out.append(Word(" " + token, t0 + i * step, t0 + i * step + 0.4, 0.2 if core in doubtful else 0.97))
    return out


def segment(text: str, t0: float = 0.0, doubtful: tuple[str, ...] = ()) -> Segment:
    ws = words(text, t0, doubtful)
    return Segment(ws[0].start, ws[-1].end, text, ws)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


@pytest.mark.parametrize("text, doubtful, expected, change", [
    ("The hepatoxylin stains the nuclei blue.", ("hepatoxylin",),
     "The hematoxylin stains the nuclei blue.", {"hepatoxylin": "hematoxylin"}),
    ("Here the myel duct is lined by cuboidal cells.", ("myel",),
     "Here the bile duct is lined by cuboidal cells.", {"myel duct": "bile duct"}),
    ("With assintaining the cytoplasm looks pink.", ("assintaining",),
     "With eosin staining the cytoplasm looks pink.", {"assintaining": "eosin staining"}),
])
def test_known_asr_errors_are_fixed(lexicon: Lexicon, text: str, doubtful: tuple[str, ...],
                                    expected: str, change: dict[str, str]) -> None:
    [sentence] = denoise([segment(text, doubtful=doubtful)], lexicon)
    assert sentence.text == expected
    assert sentence.asr_text == text
    assert sentence.corrections == change
    assert sentence.medical


def test_works_with_only_the_shipped_term_list() -> None:
    # No hunspell lists: every word is unknown, yet nothing ordinary gets rewritten.
    lexicon = Lexicon.load(dictionaries=(), medical_dictionary=None)
    text = "The hepatoxylin shows the myel duct, and assintaining shows the stroma."
    [sentence] = denoise([segment(text, doubtful=("hepatoxylin", "myel", "assintaining"))], lexicon)
    assert sentence.text == "The hematoxylin shows the bile duct, and eosin staining shows the stroma."


def test_confident_correct_words_are_left_alone(lexicon: Lexicon) -> None:
    text = "The hematoxylin and eosin stained section shows nuclear detail and lymphocytes."
    [sentence] = denoise([segment(text)], lexicon)
    assert sentence.text == text
    assert sentence.corrections == {}


def test_doubted_but_correct_words_are_left_alone(lexicon: Lexicon) -> None:
    text = "The stained nuclear material and the hematoxylin look fine today."
    everything = tuple(t.strip(".") for t in text.split())
    [sentence] = denoise([segment(text, doubtful=everything)], lexicon)
    assert sentence.text == text


def test_plural_is_kept(lexicon: Lexicon) -> None:
    [sentence] = denoise([segment("Many lymphosites here.", doubtful=("lymphosites",))], lexicon)
    assert sentence.text == "Many lymphocytes here."


@pytest.mark.parametrize("text", [
    "Don't forget to like and subscribe.",
    "Welcome back to the channel, everyone.",
    "Thanks for watching and see you next time.",
    "Welcome back, today we look at the liver.",
])
def test_chatter_is_not_medical(lexicon: Lexicon, text: str) -> None:
    assert [s.medical for s in denoise([segment(text)], lexicon)] == [False]


def test_common_words_alone_are_not_medical(lexicon: Lexicon) -> None:
    # Every word here is in some dictionary, none is a histopathology term.
    [sentence] = denoise([segment("So today we will look at a few interesting images together.")], lexicon)
    assert not sentence.medical


def test_terms_are_found_through_plurals_and_hyphens(lexicon: Lexicon) -> None:
    text = "Reed Sternberg cells and neutrophils with high Ki-67 staining."
    [sentence] = denoise([segment(text)], lexicon)
    assert sentence.medical
    found = set(lexicon.find_terms(text))
    assert {"reed sternberg cell", "neutrophil", "ki 67"} <= found


def test_sentence_times_come_from_the_words(lexicon: Lexicon) -> None:
    # The first segment ends mid-sentence: the sentence continues into the next one.
    first = segment("The liver shows steatosis. The portal", t0=10.0)
    second = segment("tract is inflamed.", t0=13.0)
    sentences = denoise([second, first], lexicon)  # out of order on purpose
    assert [s.text for s in sentences] == ["The liver shows steatosis.", "The portal tract is inflamed."]
    assert (sentences[0].start, sentences[0].end) == (10.0, 11.9)
    assert (sentences[1].start, sentences[1].end) == (12.0, 14.4)


def test_segment_without_words_uses_segment_times(lexicon: Lexicon) -> None:
    sentences = denoise([Segment(5.0, 9.0, " The bile duct is dilated.")], lexicon)
    got = [(s.start, s.end, s.text, s.medical) for s in sentences]
    assert got == [(5.0, 9.0, "The bile duct is dilated.", True)]


def test_long_pause_ends_a_sentence(lexicon: Lexicon) -> None:
    ws = words("the granuloma here", 0.0) + words("next the liver", 30.0)
    sentences = denoise([Segment(0.0, 31.4, "", ws)], lexicon)
    assert [s.text for s in sentences] == ["the granuloma here", "next the liver"]


def test_a_pause_of_over_a_second_ends_a_sentence_a_short_one_does_not(lexicon: Lexicon) -> None:
    # Whisper often drops the full stop where the narrator pauses for the next slide.
    first = words("the granuloma here", 0.0)
    after_pause = words("next the liver", first[-1].end + 1.5)
    after_breath = words("shows necrosis", after_pause[-1].end + 0.4)
    sentences = denoise([Segment(0.0, after_breath[-1].end, "", first + after_pause + after_breath)], lexicon)
    assert [s.text for s in sentences] == ["the granuloma here", "next the liver shows necrosis"]


def test_no_segments_no_sentences(lexicon: Lexicon) -> None:
    assert denoise([], lexicon) == []


def test_phonetic_key_groups_asr_confusions() -> None:
    assert phonetic_key("hepatoxylin") == phonetic_key("hematoxylin")
    assert phonetic_key("myel duct") == phonetic_key("bile duct")
    assert phonetic_key("liver") != phonetic_key("kidney")


def test_hunspell_reader_strips_flags_and_header(tmp_path: Path) -> None:
    dic = tmp_path / "x.dic"
    dic.write_text("3\n    licence header line\n\nduct/KS\nstain/SG\nmyel\n", encoding="utf-8")
    assert read_hunspell_words(dic) == ["duct", "stain", "myel"]


def test_denoiser_name() -> None:
    assert DENOISER_NAME == "lexicon-denoiser-v1"


def test_every_correction_has_a_score(lexicon: Lexicon) -> None:
    [sentence] = denoise([segment("The hepatoxylin stains nuclei.", doubtful=("hepatoxylin",))], lexicon)
    assert set(sentence.correction_scores) == set(sentence.corrections) == {"hepatoxylin"}
    assert 0.78 <= sentence.correction_scores["hepatoxylin"] <= 1.0


def test_real_words_are_not_fused_into_a_term(lexicon: Lexicon) -> None:
    text = "Okay, so now to live for today."
    [sentence] = denoise([segment(text, doubtful=("live", "for"))], lexicon)
    assert sentence.text == text


def test_a_term_with_a_made_up_ending_is_fixed(lexicon: Lexicon) -> None:
    [sentence] = denoise([segment("Full of neutrophilin here.", doubtful=("neutrophilin",))], lexicon)
    assert sentence.text == "Full of neutrophil here."


def test_hyphenated_whisper_words_stay_joined(lexicon: Lexicon) -> None:
    ws = [Word(" The", 0.0, 0.2, 0.9), Word(" cell", 0.3, 0.5, 0.9), Word("-rich", 0.5, 0.7, 0.9),
          Word(" stroma.", 0.8, 1.0, 0.9)]
    [sentence] = denoise([Segment(0.0, 1.0, "The cell-rich stroma.", ws)], lexicon)
    assert sentence.text == "The cell-rich stroma."


def test_an_unpunctuated_segment_ends_its_sentence_unless_a_window_seam_cut_it(lexicon: Lexicon) -> None:
    # Seen with tiny.en: a stretch with no punctuation at all, but one segment per narrated sentence and no
    # gap between them. Without the segment ends, four slides' sentences were one 23 s sentence.
    first = segment("but the myoepithelial cells form a layer around the duct", 10.0)
    second = segment("the estrogen receptor stain is positive in most tumor nuclei", first.end)
    said = denoise([first, second], lexicon)
    assert [s.text for s in said] == [first.text, second.text] and all(s.medical for s in said)
    # A segment with punctuation keeps its own full stops as the only boundaries: its end may be mid-sentence.
    punctuated = segment("Here you see. The granuloma with", 0.0)
    said = denoise([punctuated, segment("a giant cell", punctuated.end)], lexicon)
    assert [s.text for s in said] == ["Here you see.", "The granuloma with a giant cell"]
    # Cut short by a window seam, the sentence goes on in the next segment.
    cut = Segment(first.start, first.end, first.text, first.words, cut=True)
    said = denoise([cut, second], lexicon)
    assert [s.text for s in said] == [f"{first.text} {second.text}"]


def test_a_repetition_loop_is_cut_to_one_copy(lexicon: Lexicon) -> None:
    loop = segment("The interstitium is inflamed and the blood of the body, and the blood of the body, "
                   "and the blood of the body, and the blood of the body.", 0.0)
    [sentence] = denoise([loop], lexicon)
    assert sentence.text == "The interstitium is inflamed and the blood of the body."
    assert sentence.end == loop.words[9].end  # the first copy's time: the rest of the loop was never said


def test_a_short_unpunctuated_pause_is_kept_as_a_soft_break_with_both_sides(lexicon: Lexicon) -> None:
    # Whisper lost the full stop between two slides' sentences; only the half-second pause is left.
    first = words("at the conference last year,", 15.0)
    after = words("a lymphocytic infiltrate effaces the node.", first[-1].end + 0.5)
    [sentence] = denoise([Segment(15.0, after[-1].end, "", first + after)], lexicon)
    [brk] = sentence.breaks
    assert (brk.start, brk.end) == (first[-1].end, after[0].start)
    assert sentence.text[:brk.text_offset].rstrip() == "at the conference last year,"
    assert sentence.text[brk.text_offset:] == "a lymphocytic infiltrate effaces the node."
    assert sentence.asr_text[brk.asr_offset:] == "a lymphocytic infiltrate effaces the node."
    assert (brk.medical_before, brk.medical_after) == (False, True)


def test_a_breath_and_a_pause_inside_a_correction_are_no_soft_breaks(lexicon: Lexicon) -> None:
    breath = words("the liver,", 0.0)
    rest = words("shows steatosis.", breath[-1].end + 0.2)  # a comma's gap, 0.2 s
    [sentence] = denoise([Segment(0.0, rest[-1].end, "", breath + rest)], lexicon)
    assert sentence.breaks == []
    # "myel duct" becomes "bile duct": a pause between the two heard words cannot be a sentence end.
    head = words("here the myel", 0.0, doubtful=("myel",))
    tail = words("duct is dilated.", head[-1].end + 0.5)
    [fixed] = denoise([Segment(0.0, tail[-1].end, "", head + tail)], lexicon)
    assert fixed.text == "here the bile duct is dilated."
    assert fixed.breaks == []
