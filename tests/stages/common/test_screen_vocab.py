"""The lecture's on-screen vocabulary: which OCR words become terms, and how they steer the corrector."""

from __future__ import annotations

from quilt.core.types import Segment, Word
from quilt.stages.common.corrector import denoise
from quilt.stages.common.lexicon import load_lexicon
from quilt.stages.common.screen_vocab import (
    MAX_SCREEN_TERMS,
    ScreenShown,
    ScreenVocabulary,
    merge_terms,
    screen_terms,
    shown_throughout,
)


def _heard(text: str, doubted: tuple[str, ...]) -> list[Segment]:
    """One segment with word timings; the `doubted` words have a low Whisper probability."""
    words = [Word(w, i * 0.4, i * 0.4 + 0.3, 0.3 if w.strip(".,").lower() in doubted else 0.95)
             for i, w in enumerate(text.split())]
    return [Segment(0.0, len(words) * 0.4, text, words)]


def test_only_known_medical_words_of_the_screen_become_terms() -> None:
    text = "Week 3: Thyroid gland\nThyroglobulin immunostain\nDept. of Pathology | Dr Smith\nwww.example.org"
    terms = screen_terms(text, load_lexicon())
    assert "thyroid gland" in terms and "thyroglobulin" in terms
    assert not {"week", "dept", "pathology", "smith", "example"} & {t.lower() for t in terms}


def test_a_hostile_screen_yields_a_bounded_list() -> None:
    lexicon = load_lexicon()
    flood = " ".join(lexicon.terms[:5000]) * 3
    assert len(screen_terms(flood, lexicon)) == MAX_SCREEN_TERMS
    assert screen_terms("", lexicon) == [] and screen_terms("\x00\ufffd" * 1000, lexicon) == []


def test_merge_keeps_first_spelling_once() -> None:
    assert merge_terms([["Colloid", "thyroid"], ["colloid", "Ki-67"]]) == ["Colloid", "thyroid", "Ki-67"]


def test_a_term_seen_on_screen_fixes_a_word_the_term_list_cannot() -> None:
    segments = _heard("The thyroglobin stain marks the colloid.", ("thyroglobin",))
    lexicon = load_lexicon()
    assert lexicon.best_match("thyroglobin") is None  # the term list alone leaves it
    plain = denoise(segments, lexicon)
    seen = denoise(segments, lexicon, screen=shown_throughout(["thyroglobulin", "colloid"]))
    assert plain[0].text == "The thyroglobin stain marks the colloid."
    assert seen[0].text == "The thyroglobulin stain marks the colloid."
    assert seen[0].corrections == {"thyroglobin": "thyroglobulin"}


def test_a_screen_term_wins_against_the_term_lists_guess() -> None:
    lexicon = load_lexicon()
    segments = _heard("These medularry cells form nests.", ("medularry",))
    assert denoise(segments, lexicon)[0].text == "These medulla cells form nests."
    shown = denoise(segments, lexicon, screen=shown_throughout(["medullary carcinoma"]))
    assert shown[0].text == "These medullary cells form nests."


def test_screen_terms_never_replace_confident_or_unrelated_words() -> None:
    lexicon = load_lexicon()
    segments = _heard("The lecture starts at noon today.", ("noon",))
    assert denoise(segments, lexicon, screen=shown_throughout(["nucleolus", "neuron"]))[0].text == \
        "The lecture starts at noon today."
    confident = _heard("Here is a granuloma.", ())
    granulation = shown_throughout(["granulation tissue"])
    assert denoise(confident, lexicon, screen=granulation)[0].text == "Here is a granuloma."


def test_screen_matching_uses_sound_and_spelling() -> None:
    vocab = ScreenVocabulary(["medullary carcinoma", "thyroglobulin"])
    assert vocab.match("medularry") is not None and vocab.match("medularry")[0] == "medullary"
    assert vocab.match("thyroglobin")[0] == "thyroglobulin"
    assert vocab.match("table") is None and vocab.match("x") is None
    assert not ScreenVocabulary(["ab", ""])


def test_only_terms_shown_around_a_sentence_steer_it() -> None:
    lexicon = load_lexicon()
    words = [Word(w, 40.0 + i * 0.4, 40.3 + i * 0.4, 0.3 if w == "thyroglobin" else 0.95)
             for i, w in enumerate("The thyroglobin stain marks the colloid.".split())]
    segments = [Segment(40.0, 42.8, " ".join(w.text for w in words), words)]
    near = [ScreenShown(35.0, 45.0, ("thyroglobulin",))]
    far = [ScreenShown(0.0, 20.0, ("thyroglobulin",)), ScreenShown(90.0, 100.0, ("thyroglobulin",))]
    assert denoise(segments, lexicon, screen=near)[0].text == "The thyroglobulin stain marks the colloid."
    assert denoise(segments, lexicon, screen=far)[0].text == "The thyroglobin stain marks the colloid."
    # Within 10 s before or after counts: the narrator names a slide just before or after it shows.
    assert denoise(segments, lexicon, screen=[ScreenShown(50.0, 60.0, ("thyroglobulin",))])[0].text == \
        "The thyroglobulin stain marks the colloid."
