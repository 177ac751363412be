"""Medical sentence extraction: keep decision on a labelled set, and entity tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from quilt.core.types import Segment, Word
from quilt.stages.common.corrector import Lexicon, denoise, load_lexicon
from quilt.stages.common.entities import CATEGORIES, EntityTagger, default_tagger, parse_categories, shipped_categories

LABELLED = Path(__file__).resolve().parents[2] / "data" / "sentences_labelled.tsv"


def _segment(text: str) -> Segment:
    ws = [Word(" " + t, i * 0.5, i * 0.5 + 0.4, 0.95) for i, t in enumerate(text.split())]
    return Segment(0.0, ws[-1].end, text, ws)


def _labelled() -> list[tuple[bool, str]]:
    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label == "1", text))
    return rows


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


def test_keep_decision_precision_and_recall(lexicon: Lexicon) -> None:
    rows = _labelled()
    assert len(rows) >= 60
    kept = [(label, any(s.medical for s in denoise([_segment(text)], lexicon)), text) for label, text in rows]
    tp = sum(label and keep for label, keep, _ in kept)
    precision = tp / max(1, sum(keep for _, keep, _ in kept))
    recall = tp / sum(label for label, _, _ in kept)
    wrong = [f"{'kept' if keep else 'dropped'}: {text}" for label, keep, text in kept if label != keep]
    print(f"keep decision: precision={precision:.3f} recall={recall:.3f} on {len(rows)} sentences")
    assert precision >= 0.9 and recall >= 0.9, "\n".join(wrong)


def test_kept_sentences_carry_entities(lexicon: Lexicon) -> None:
    [s] = denoise([_segment("Hematoxylin and eosin shows squamous cell carcinoma with mitotic figures and Ki-67.")],
                  lexicon)
    assert s.medical
    assert s.entities == [("Hematoxylin and eosin", "stain"), ("squamous cell carcinoma", "diagnosis"),
                          ("mitotic figures", "finding"), ("Ki-67", "marker")]


def test_dropped_sentences_carry_no_entities(lexicon: Lexicon) -> None:
    [s] = denoise([_segment("In the next video we will look at the liver.")], lexicon)
    assert not s.medical and s.entities == []


def test_every_category_is_used_by_the_shipped_list() -> None:
    assert set(shipped_categories().values()) == set(CATEGORIES)


def test_tagger_prefers_the_longest_term() -> None:
    tagger = EntityTagger({"bile": "tissue", "bile duct": "tissue", "neutrophil": "cell"})
    assert tagger.tag("The bile ducts hold neutrophils.") == [("bile ducts", "tissue"), ("neutrophils", "cell")]


def test_category_headers_are_validated() -> None:
    assert parse_categories(["plain", "#@category cell", "neutrophil", "# comment", ""]) == {"neutrophil": "cell"}
    with pytest.raises(ValueError):
        parse_categories(["#@category organ"])


def test_old_style_loader_still_reads_the_tagged_list() -> None:
    # Category headers are '#' lines, so a reader that skips comments sees only terms.
    lexicon = Lexicon.load(dictionaries=(), medical_dictionary=None)
    assert "hematoxylin" in lexicon.terms and not any(t.startswith("#") for t in lexicon.terms)
    assert default_tagger().tag("eosin") == [("eosin", "stain")]
