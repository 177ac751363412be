"""Which organ systems a pair talks about: Quilt's "sub-pathology" metadata, from a keyword table.

Quilt labelled each pair with its top sub-pathologies (gastrointestinal, dermatopathology...).
Here the evidence is the narration itself: every organ, tissue or disease word that belongs to
one system counts for it, and a word the entity tagger also recognised as a medical term counts
twice, since it was surely said as histology and not in passing ("I have a gut feeling").
Generic words (carcinoma, lymphocyte, gland) name no system and count for none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Each pattern is matched at a word start, case-insensitively; a trailing \w* makes it a stem.
# Order matters only to break ties between systems with equal evidence.
SYSTEM_PATTERNS: dict[str, tuple[str, ...]] = {
    "gastrointestinal": (
        r"esophag\w*", r"oesophag\w*", r"stomach\w*", r"gastr(?!ulation)\w*", r"duoden\w*", r"jejun\w*",
        r"ileum\b", r"ileal\b", r"intestin\w*", r"bowel\w*", r"colon\w*\b", r"colorectal", r"colitis",
        r"rectum\b", r"rectal\b", r"anal\b", r"append(?:ix|iceal|icitis)\b", r"crypts?\b", r"vill(?:us|i|ous)\b",
        r"barrett\w*", r"celiac", r"coeliac", r"crohn\w*", r"helicobacter", r"pylori", r"polyps?\b",
        r"goblet cells?", r"paneth", r"sessile serrated", r"gastrointestinal stromal",
    ),
    "hepatobiliary": (
        r"liver\w*", r"hepat\w*", r"bile\b", r"biliary", r"cholang\w*", r"cholecyst\w*", r"gallbladder\w*",
        r"cirrho\w*", r"steatosis", r"steatohepatitis", r"portal (?:tract|triad|vein)s?", r"kupffer",
        r"pancrea\w*", r"acinar cells?",
    ),
    "pulmonary": (
        r"lungs?\b", r"pulmon\w*", r"bronch\w*", r"alveol\w*", r"pleura\w*", r"pneumo\w*", r"emphysema",
        r"asthma\w*", r"mesothelioma\w*", r"trache\w*", r"respiratory epithelium", r"tuberculo\w*",
    ),
    "renal": (
        r"kidneys?\b", r"renal\b", r"nephr\w*", r"glomerul\w*", r"podocyt\w*", r"mesangi\w*", r"bowman\w*",
        r"(?:proximal|distal|renal) tubules?", r"collecting ducts?", r"loop of henle", r"wilms",
    ),
    "genitourinary": (
        r"bladder\w*", r"urothel\w*", r"ureter\w*", r"urethr\w*", r"prostat\w*", r"test(?:is|es|icular)\b",
        r"seminiferous", r"seminoma\w*", r"epididym\w*", r"penile", r"penis", r"leydig", r"sertoli",
        r"transitional cell",
    ),
    "gynecologic": (
        r"uter(?:us|ine)\b", r"endometri\w*", r"myometri\w*", r"cervix", r"endocervi\w*", r"ectocervi\w*",
        r"ovar(?:y|ies|ian)\b", r"fallopian", r"vulva\w*", r"vagin\w*", r"placent\w*", r"chorion\w*",
        r"decidua\w*", r"dysgerminoma", r"granulosa", r"corpus (?:luteum|albicans)", r"adenomyosis",
        r"hydatidiform", r"choriocarcinoma",
    ),
    "breast": (
        r"breasts?\b", r"mammary", r"ductal carcinoma", r"dcis\b", r"lobular carcinoma", r"fibroadenoma\w*",
        r"phyllodes", r"nipple\w*", r"terminal duct lobular",
    ),
    "dermatopathology": (
        r"skin\b", r"epiderm\w*", r"dermis\b", r"dermal\b", r"dermat\w*", r"cutaneous", r"keratos[ie]s\b",
        r"melanom\w*", r"melanocyt\w*", r"nev(?:us|i)\b", r"basal cell carcinoma", r"psoria\w*",
        r"lichen planus", r"pemphig\w*", r"stratum (?:corneum|basale|spinosum|granulosum)", r"hair follicles?",
        r"sebaceous", r"sweat glands?", r"eccrine", r"apocrine", r"keratinocyt\w*",
    ),
    "hematopathology": (
        r"lymph nodes?", r"lymphoma\w*", r"hodgkin\w*", r"leuk(?:a)?emi\w*", r"myelom\w*", r"myelodysplas\w*",
        r"myeloprolif\w*", r"myeloid", r"bone marrow", r"splee?n\w*", r"splenic", r"thym(?:us|ic|oma)\w*",
        r"germinal cent(?:er|re)s?", r"plasmacytoma", r"reed[- ]sternberg", r"mantle (?:zone|cell)",
        r"paracortex", r"(?:red|white) pulp", r"megakaryocyt\w*",
    ),
    "neuropathology": (
        r"brain\w*", r"cerebr\w*", r"cerebell\w*", r"neurons?\b", r"neuronal", r"neuropil", r"neuropatholog\w*",
        r"glia\w*", r"gliom\w*", r"glioblastom\w*", r"astrocyt\w*", r"oligodendro\w*", r"ependym\w*",
        r"mening\w*", r"spinal cord", r"medulloblastom\w*", r"alzheimer\w*", r"creutzfeldt", r"prion\w*",
        r"(?:gray|grey|white) matter",
    ),
    "endocrine": (
        r"thyroid\w*", r"parathyroid\w*", r"adrenal\w*", r"pituitar\w*", r"islets?\b", r"endocrine",
        r"neuroendocrine", r"pheochromocytom\w*", r"goit(?:er|re)", r"hashimoto\w*", r"graves", r"carcinoid",
    ),
    "head_and_neck": (
        r"salivary", r"parotid", r"submandibular", r"tonsil\w*", r"laryn\w*", r"pharyn\w*", r"oral cavity",
        r"oral mucosa", r"tongue", r"sinonasal", r"nasal\b", r"pleomorphic adenoma", r"warthin\w*",
        r"head and neck", r"gingiv\w*", r"odontogenic",
    ),
    "bone_soft_tissue": (
        r"bones?\b(?! marrow)", r"osteo\w*", r"chondro\w*", r"cartilag\w*", r"\w*sarcoma\w*", r"lipoma\w*",
        r"leiomyom\w*", r"rhabdomyo\w*", r"soft tissue", r"tendons?\b", r"ligaments?\b", r"synovi\w*",
        r"ewing", r"gout\w*", r"periosteum", r"haversian", r"skeletal muscle", r"fibromatosis",
        r"schwannom\w*", r"neurofibrom\w*",
    ),
    "cardiovascular": (
        r"heart\b", r"cardi(?:ac|um|tis|omyo\w*)", r"myocard\w*", r"pericard\w*", r"endocard\w*", r"aort\w*",
        r"arter(?:y|ies|ial|iole|ioles|itis)\b", r"atheroscl\w*", r"vasculitis", r"valves?\b", r"tunica",
    ),
    "cytopathology": (
        r"cytolog\w*", r"cytopatholog\w*", r"fine[- ]needle", r"fna\b", r"aspirat\w*", r"pap (?:smear|test)s?",
        r"papanicolaou", r"smears?\b", r"cell blocks?", r"liquid[- ]based",
    ),
}
SYSTEMS = tuple(SYSTEM_PATTERNS)

TOP_K = 3
# A runner-up needs at least this share of the leader's evidence: one stray "skin" in a talk
# about the colon is not a second subspecialty.
MIN_SHARE = 0.25


@lru_cache(maxsize=1)
def _compiled() -> dict[str, re.Pattern[str]]:
    return {system: re.compile(r"(?<![\w-])(?:" + "|".join(patterns) + ")", re.IGNORECASE)
            for system, patterns in SYSTEM_PATTERNS.items()}


def system_evidence(text: str, entities: Iterable[tuple[str, str]] = ()) -> dict[str, float]:
    """Evidence per organ system (only systems with some): word hits in the text, plus one per tagged entity."""
    entity_texts = {surface.lower() for surface, _ in entities if surface.strip()}
    evidence: dict[str, float] = {}
    for system, pattern in _compiled().items():
        score = float(sum(1 for _ in pattern.finditer(text)))
        score += sum(1.0 for surface in entity_texts if pattern.search(surface))
        if score > 0:
            evidence[system] = score
    return evidence


def sub_pathologies(text: str, entities: Iterable[tuple[str, str]] = (), top_k: int = TOP_K) -> list[str]:
    """Up to `top_k` organ systems, strongest evidence first; fewer (or none) when the evidence is thin."""
    evidence = system_evidence(text, entities)
    if not evidence:
        return []
    ranked = sorted(evidence, key=lambda system: (-evidence[system], SYSTEMS.index(system)))
    floor = evidence[ranked[0]] * MIN_SHARE
    return [system for system in ranked if evidence[system] >= floor][:top_k]
