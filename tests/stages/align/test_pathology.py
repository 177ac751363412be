"""Sub-pathology (organ system) labels from a pair's text and entities."""

from __future__ import annotations

from quilt.stages.align.pathology import SYSTEMS, sub_pathologies, system_evidence


def test_one_clear_system() -> None:
    text = "The hepatocytes around the central vein show steatosis; this liver biopsy has cirrhosis."
    assert sub_pathologies(text) == ["hepatobiliary"]


def test_ordered_by_evidence_and_at_most_three() -> None:
    text = ("This colon biopsy shows crypt distortion in the colonic mucosa with colitis. "
            "A lymph node nearby has a lymphoma, and the liver shows a metastasis. "
            "The kidney, skin and thyroid are normal.")
    labels = sub_pathologies(text)
    assert labels[0] == "gastrointestinal"
    assert len(labels) == 3 and set(labels) <= set(SYSTEMS)
    assert labels[1] == "hematopathology"  # two words for it, versus one for liver, kidney, skin, thyroid


def test_thin_evidence_gives_fewer_or_none() -> None:
    assert sub_pathologies("Note the nuclear pleomorphism and mitoses in this carcinoma.") == []
    # A passing mention beside a strong topic is not a second subspecialty.
    text = ("The glomerulus and the renal tubules, the glomerular basement membrane, the podocytes, "
            "a nephron of the kidney; the skin is elsewhere.")
    assert sub_pathologies(text) == ["renal"]


def test_tagged_entities_add_weight() -> None:
    text = "Breast tissue with a lymph node."
    assert system_evidence(text) == {"breast": 1.0, "hematopathology": 1.0}
    assert sub_pathologies(text)[0] == "breast"  # a tie keeps the table order
    tagged = sub_pathologies(text, [("lymph node", "tissue")])
    assert tagged == ["hematopathology", "breast"]


def test_words_are_matched_at_word_starts_only() -> None:
    assert system_evidence("the bone marrow") == {"hematopathology": 1.0}  # not bone and soft tissue
    assert "renal" not in system_evidence("adrenal cortex")
    assert "endocrine" in system_evidence("adrenal cortex")
    assert system_evidence("neuroendocrine tumour").keys() == {"endocrine"}
    assert system_evidence("osteosarcoma of the femur").keys() == {"bone_soft_tissue"}
