"""Narrated lectures whose truth is known, for `quilt eval`: which seconds show histology, what was said, which terms.

    python -m quilt.testing.eval_lectures --out DIR --split tuning|heldout --count N [--first K]

writes DIR/<split>-NN.mp4 and DIR/<split>-NN.truth.json. The two splits never share a seed, and
each draws its narration from its own sentence pool: tune on `tuning`, only score `heldout`.

A lecture is about one tissue: an intro slide with chatter, sometimes an outline slide narrated
with medical words (text, not histology: a pair from it is leakage), three or four H&E/IHC slides
with medical narration, an aside (a photo or the presenter's camera, with chatter or with
medical-sounding talk), sometimes an earlier slide shown again with new narration, and an outro.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quilt.testing.lecture import NARRATION_DELAY_S, NARRATION_TAIL_S, SlideSpec, make_lecture
from quilt.testing.speech import SAMPLE_RATE, speak

# Disjoint on purpose: a held-out lecture can never be a tuning lecture with another name.
SPLIT_SEEDS = {"tuning": range(10_000, 20_000), "heldout": range(50_000, 60_000)}
MIN_SLIDE_S = 4.0  # above the decoder's 3 s stable minimum, so every still can give a key frame
SPEECH_MARGIN_S = 0.6  # silence after the narration on top of the lecture's own tail
HISTOLOGY_KINDS = ("histology", "ihc")


@dataclass(frozen=True)
class Line:
    text: str
    terms: tuple[str, ...] = ()  # histopathology terms the sentence says (empty: chatter)


def _m(text: str, *terms: str) -> Line:
    return Line(text, terms)


@dataclass(frozen=True)
class Pool:
    """One split's narration for one tissue."""

    he: tuple[Line, ...]  # over H&E slides
    ihc: tuple[Line, ...]  # over IHC slides
    outline: Line  # medical words over a text slide


@dataclass(frozen=True)
class Tissue:
    name: str
    topics: tuple[str, ...]  # outline slide lines
    tuning: Pool
    heldout: Pool

    def pool(self, split: str) -> Pool:
        return self.tuning if split == "tuning" else self.heldout


TISSUES: tuple[Tissue, ...] = (
    Tissue("Liver pathology", ("Steatosis", "Fibrosis", "Liver tumours"), Pool(
        he=(_m("The hepatocytes in this liver show macrovesicular steatosis with large fat droplets.",
               "hepatocyte", "liver", "macrovesicular steatosis"),
            _m("A portal tract with a bile duct and a branch of the portal vein sits in the center.",
               "portal tract", "bile duct", "portal vein"),
            _m("Here the liver shows bridging fibrosis that links neighbouring portal tracts.",
               "liver", "bridging fibrosis", "portal tract"),
            _m("Interface hepatitis is seen where lymphocytes spill into the lobule.",
               "interface hepatitis", "lymphocyte", "lobule"),
            _m("Councilman bodies are apoptotic hepatocytes seen in acute viral hepatitis.",
               "Councilman body", "hepatocyte", "hepatitis"),
            _m("Primary sclerosing cholangitis leaves onion skin fibrosis around the bile ducts.",
               "primary sclerosing cholangitis", "bile duct")),
        ihc=(_m("Immunohistochemistry for cytokeratin highlights the bile ductules.",
                "immunohistochemistry", "cytokeratin", "bile ductule"),
             _m("The tumor cells are positive for glypican 3 in this hepatocellular carcinoma.",
                "tumor cell", "hepatocellular carcinoma"),
             _m("A reticulin stain shows the loss of the normal liver plates in this tumor.",
                "reticulin stain", "liver")),
        outline=_m("Today we will look at fatty liver disease, hepatitis and cirrhosis.", "liver", "cirrhosis")),
        Pool(
        he=(_m("Ballooned hepatocytes contain Mallory-Denk bodies in this fatty liver.",
               "hepatocyte", "Mallory-Denk body", "liver"),
            _m("The central vein is surrounded by congestion and hemorrhage.",
               "central vein", "congestion", "hemorrhage"),
            _m("Regenerative nodules wrapped in fibrous bands define cirrhosis.", "nodule", "cirrhosis"),
            _m("Canalicular cholestasis appears as green bile plugs between the hepatocytes.",
               "cholestasis", "hepatocyte")),
        ihc=(_m("HepPar-1 stains the cytoplasm of the tumor cells brown.", "cytoplasm", "tumor cell"),
             _m("Immunostaining for CD34 outlines the sinusoids of this hepatocellular carcinoma.",
                "CD34", "sinusoid", "hepatocellular carcinoma")),
        outline=_m("This session covers the liver biopsy, from steatosis to hepatocellular carcinoma.",
                   "liver", "biopsy", "steatosis", "hepatocellular carcinoma"))),
    Tissue("Renal pathology", ("The glomerulus", "Tubules", "Kidney tumours"), Pool(
        he=(_m("This glomerulus shows mesangial cells and open capillary loops.", "glomerulus", "mesangial cell"),
            _m("The proximal tubules are lined by cells with a brush border.", "proximal tubule", "brush border"),
            _m("In this kidney biopsy there is acute inflammation of the interstitium.",
               "kidney", "biopsy", "acute inflammation", "interstitium"),
            _m("Clear cell renal cell carcinoma has cells with empty looking cytoplasm.",
               "clear cell renal cell carcinoma", "cytoplasm"),
            _m("Amyloid deposits expand the glomeruli as pale eosinophilic material.",
               "amyloid", "glomeruli", "eosinophilic"),
            _m("Karyorrhexis of the tubular epithelium marks the dying cells.", "karyorrhexis", "epithelium")),
        ihc=(_m("PAX8 is positive in the nuclei of these renal tumor cells.", "PAX8", "nuclei", "tumor cell"),
             _m("The podocytes stain with WT1 on this immunostain.", "podocyte", "WT1", "immunostain"),
             _m("Congo red shows apple-green birefringence under polarized light.",
                "Congo red", "apple-green birefringence")),
        outline=_m("We start with the normal kidney and then move to glomerulonephritis.",
                   "kidney", "glomerulonephritis")),
        Pool(
        he=(_m("Crescents fill Bowman capsule in this rapidly progressive glomerulonephritis.",
               "Bowman capsule", "glomerulonephritis"),
            _m("The collecting ducts contain casts and the interstitium shows edema.",
               "collecting duct", "interstitium", "edema"),
            _m("Neutrophils fill the renal tubules in acute pyelonephritis.",
               "neutrophil", "renal tubule", "pyelonephritis"),
            _m("Wilms tumor shows blastema, primitive tubules and stroma.", "Wilms tumor", "stroma")),
        ihc=(_m("CD10 decorates the membranes of this clear cell tumor.", "CD10", "clear cell"),
             _m("Immunohistochemistry for CD31 marks the endothelial cells of the glomeruli.",
                "immunohistochemistry", "CD31", "endothelial cell", "glomeruli")),
        outline=_m("The topics are kidney biopsies, pyelonephritis and renal cell carcinoma.",
                   "kidney", "pyelonephritis", "renal cell carcinoma"))),
    Tissue("Lung pathology", ("Alveoli", "Granulomas", "Lung cancer"), Pool(
        he=(_m("The alveoli are lined by type II pneumocytes after the injury.", "alveoli", "type II pneumocyte"),
            _m("A caseating granuloma with a Langhans giant cell suggests tuberculosis.",
               "caseating granuloma", "Langhans giant cell", "tuberculosis"),
            _m("The bronchiole is lined by respiratory epithelium with cilia.",
               "bronchiole", "respiratory epithelium", "cilia"),
            _m("This adenocarcinoma of the lung grows along the alveolar walls.", "adenocarcinoma", "lung"),
            _m("Squamous cell carcinoma shows keratin pearls and intercellular bridges.",
               "squamous cell carcinoma", "keratin pearl", "intercellular bridge"),
            _m("In pulmonary fibrosis fibroblasts thicken the walls between the alveoli.", "fibroblast", "alveoli")),
        ihc=(_m("TTF-1 stains the nuclei of this lung adenocarcinoma.", "TTF-1", "nuclei", "adenocarcinoma"),
             _m("Napsin A is positive in the cytoplasm of the tumor.", "napsin A", "cytoplasm"),
             _m("p40 marks the nuclei of this squamous cell carcinoma.", "p40", "nuclei", "squamous cell carcinoma")),
        outline=_m("Our plan is pneumonia, tuberculosis and then lung cancer.", "pneumonia", "tuberculosis")),
        Pool(
        he=(_m("Hemosiderin-laden macrophages fill the alveoli in chronic congestion.",
               "hemosiderin-laden macrophage", "alveoli", "congestion"),
            _m("Emphysema destroys the alveolar walls and leaves large air spaces.", "emphysema"),
            _m("Non-caseating granulomas in the interstitium point to sarcoidosis.",
               "non-caseating granuloma", "interstitium", "sarcoidosis"),
            _m("Small cell carcinoma has crushed cells with scant cytoplasm.", "small cell carcinoma", "cytoplasm")),
        ihc=(_m("Synaptophysin and chromogranin confirm a neuroendocrine tumor.",
                "synaptophysin", "chromogranin", "neuroendocrine tumor"),
             _m("The mesothelioma cells are positive for calretinin.", "mesothelioma", "calretinin")),
        outline=_m("This hour is about emphysema, sarcoidosis and small cell carcinoma of the lung.",
                   "emphysema", "sarcoidosis", "small cell carcinoma", "lung"))),
    Tissue("The colon", ("Normal mucosa", "Colitis", "Polyps"), Pool(
        he=(_m("The colon mucosa has straight crypts full of goblet cells.", "colon", "mucosa", "crypt", "goblet cell"),
            _m("A tubular adenoma shows low-grade dysplasia of the crypt epithelium.",
               "tubular adenoma", "low-grade dysplasia", "epithelium"),
            _m("Cryptitis and crypt abscesses are typical of ulcerative colitis.",
               "cryptitis", "crypt abscess", "ulcerative colitis"),
            _m("The adenocarcinoma invades through the muscularis propria.", "adenocarcinoma", "muscularis propria"),
            _m("A villous adenoma has long fronds lined by dysplastic epithelium.", "villous adenoma", "epithelium"),
            _m("Signet ring cells are full of mucin that pushes the nucleus aside.", "signet ring cell", "mucin")),
        ihc=(_m("CDX2 is strongly positive in the nuclei of this colon cancer.", "CDX2", "nuclei", "colon"),
             _m("Loss of MLH1 staining points to a mismatch repair deficiency.", "MLH1", "mismatch repair"),
             _m("Cytokeratin stains the tumor cells deep in the wall of the colon.",
                "cytokeratin", "tumor cell", "colon")),
        outline=_m("We will cover colitis, adenomas and carcinoma of the colon.", "colitis", "colon")),
        Pool(
        he=(_m("The lamina propria is expanded by plasma cells and lymphocytes.",
               "lamina propria", "plasma cell", "lymphocyte"),
            _m("Paneth cell metaplasia is a sign of chronic injury in the colon.",
               "Paneth cell", "metaplasia", "colon"),
            _m("A sessile serrated lesion has dilated crypts at the base.", "sessile serrated lesion", "crypt"),
            _m("Transmural inflammation with granulomas suggests Crohn disease.",
               "inflammation", "granuloma", "Crohn disease")),
        ihc=(_m("CK20 is positive while CK7 is negative in this colorectal tumor.", "CK20", "CK7"),
             _m("Ki-67 labels the proliferating cells at the base of the crypts.", "Ki-67", "crypt")),
        outline=_m("Today is about Crohn disease, serrated polyps and the colon biopsy.",
                   "Crohn disease", "colon", "biopsy"))),
    Tissue("Breast pathology", ("Benign lesions", "In situ disease", "Invasive carcinoma"), Pool(
        he=(_m("Invasive ductal carcinoma forms irregular nests in a desmoplastic stroma.",
               "invasive ductal carcinoma", "desmoplastic stroma"),
            _m("A fibroadenoma shows compressed ducts within a cellular stroma.", "fibroadenoma", "duct", "stroma"),
            _m("Ductal carcinoma in situ with comedo necrosis fills these ducts.",
               "ductal carcinoma in situ", "comedo necrosis"),
            _m("The myoepithelial cells form a layer around the normal duct.", "myoepithelial cell", "duct"),
            _m("Paget disease of the nipple has large pale cells in the epidermis.", "Paget disease", "epidermis"),
            _m("Mucinous carcinoma shows tumor cells floating in pools of mucin.",
               "mucinous carcinoma", "tumor cell", "mucin")),
        ihc=(_m("The estrogen receptor stain is positive in most tumor nuclei.", "estrogen receptor", "nuclei"),
             _m("HER2 shows strong complete membrane staining in this carcinoma.", "HER2", "carcinoma"),
             _m("Cytokeratin highlights the single signet ring cells in the stroma.",
                "cytokeratin", "signet ring cell", "stroma")),
        outline=_m("We go from fibroadenoma to invasive ductal carcinoma of the breast.",
                   "fibroadenoma", "invasive ductal carcinoma", "breast")),
        Pool(
        he=(_m("Invasive lobular carcinoma cells line up in single files through the stroma.",
               "invasive lobular carcinoma", "stroma"),
            _m("Fat necrosis with foamy macrophages can mimic a tumor in the breast.",
               "fat necrosis", "macrophage", "breast"),
            _m("A phyllodes tumor has leaf-like fronds and an overgrowing stroma.", "phyllodes tumor", "stroma"),
            _m("Apocrine metaplasia gives these cyst linings pink granular cytoplasm.",
               "metaplasia", "cyst", "cytoplasm")),
        ihc=(_m("The progesterone receptor stains the nuclei of the tumor cells.",
                "progesterone receptor", "nuclei", "tumor cell"),
             _m("p63 outlines the myoepithelial layer around these benign glands.", "p63", "gland")),
        outline=_m("This lecture covers fat necrosis, phyllodes tumor and lobular carcinoma of the breast.",
                   "fat necrosis", "phyllodes tumor", "breast"))),
    Tissue("Lymph node", ("Reactive changes", "Hodgkin lymphoma", "Other lymphomas"), Pool(
        he=(_m("This lymph node has reactive germinal centers with tingible body macrophages.",
               "lymph node", "germinal center", "macrophage"),
            _m("Burkitt lymphoma shows a starry sky pattern.", "Burkitt lymphoma", "starry sky"),
            _m("A Reed-Sternberg cell with two nuclei sits among small lymphocytes.",
               "Reed-Sternberg cell", "nuclei", "lymphocyte"),
            _m("Metastatic carcinoma fills the subcapsular sinus of the node.", "carcinoma"),
            _m("Diffuse large B-cell lymphoma shows sheets of large atypical lymphocytes.",
               "diffuse large B-cell lymphoma", "lymphocyte"),
            _m("A lymphocytic infiltrate effaces the normal architecture of the node.", "lymphocytic infiltrate")),
        ihc=(_m("CD20 stains the B cells of the lymphoid follicles.", "CD20", "lymphoid follicle"),
             _m("CD30 is positive on the membranes of the Hodgkin cells.", "CD30", "Hodgkin cell"),
             _m("CD3 stains the T cells that lie between the lymphoid follicles.", "CD3", "lymphoid follicle")),
        outline=_m("We will compare a reactive lymph node with Hodgkin lymphoma.", "lymph node", "Hodgkin lymphoma")),
        Pool(
        he=(_m("The mantle zone surrounds each germinal center like a dark ring.", "mantle zone", "germinal center"),
            _m("Follicular lymphoma replaces the node with crowded back to back follicles.", "follicular lymphoma"),
            _m("Sinus histiocytosis shows many histiocytes in the sinuses.", "histiocyte"),
            _m("The paracortex is expanded by immunoblasts in this viral infection.", "paracortex", "immunoblast")),
        ihc=(_m("BCL2 is positive in the neoplastic follicles but not in reactive ones.", "BCL2", "neoplastic"),
             _m("Cyclin D1 marks the nuclei in this mantle cell lymphoma.",
                "cyclin D1", "nuclei", "mantle cell lymphoma")),
        outline=_m("Today we look at follicular lymphoma and mantle cell lymphoma in the lymph node.",
                   "follicular lymphoma", "mantle cell lymphoma", "lymph node"))),
)

# Talk that names no tissue: to the audience, or about the lecturer.
INTROS = {"tuning": (_m("Welcome back to the channel, please like and subscribe."),
                     _m("Hello everyone and welcome to another video.")),
          "heldout": (_m("Hi everybody, great to have you here again."),
                      _m("Good morning, let me share my screen first."))}
OUTROS = {"tuning": (_m("Thanks for watching, see you next time."), _m("That is all for today, take care.")),
          "heldout": (_m("Thank you so much for listening, bye for now."),
                      _m("Okay, we are out of time, have a nice weekend."))}
ASIDE_CHATTER = {"tuning": (_m("That's me at the conference last year."),
                            _m("I took this picture on my holiday in the mountains.")),
                 "heldout": (_m("This is my colleague who helped me prepare these slides."),
                             _m("Sorry, my dog is barking in the other room."))}
# Medical-sounding talk over a picture that is not histology: a filter that trusts the words leaks.
ASIDE_MEDICAL = {"tuning": (_m("As a pathologist I spend most of my day looking at biopsies.", "biopsy"),
                            _m("Every resection specimen is fixed in formalin overnight.", "resection", "formalin")),
                 "heldout": (_m("Before a biopsy reaches me it is embedded in paraffin.", "biopsy", "paraffin"),
                             _m("A frozen section gives the surgeon an answer within minutes.", "frozen section"))}


@dataclass
class Planned:
    """A slide with what the truth file says about it."""

    spec: SlideSpec
    line: Line
    repeat_of: int | None = None  # index of the earlier showing of this same picture


def _pick(rng: np.random.Generator, lines: list[Line]) -> Line:
    """Draw without replacement, so no two slides of a lecture share a sentence."""
    return lines.pop(int(rng.integers(0, len(lines))))


def _seconds(line: Line) -> float:
    """Long enough for the whole sentence: lecture.py truncates speech that overruns its slide."""
    speech_s = speak(line.text).size / SAMPLE_RATE if line.text else 0.0
    needed = speech_s + NARRATION_DELAY_S + NARRATION_TAIL_S + SPEECH_MARGIN_S
    return round(max(MIN_SLIDE_S, needed), 1)


def lecture_plan(split: str, seed: int) -> tuple[Tissue, list[Planned]]:
    """The slides of one lecture; every random choice comes from `seed`."""
    if seed not in SPLIT_SEEDS[split]:
        raise ValueError(f"seed {seed} is not a {split} seed")
    rng = np.random.default_rng(seed)
    tissue = TISSUES[int(rng.integers(0, len(TISSUES)))]
    pool = tissue.pool(split)
    he, ihc = list(pool.he), list(pool.ihc)
    plan = [Planned(SlideSpec("text", 0, "", title=tissue.name, lines=("Lecture", f"Case {seed % 97}")),
                    _pick(rng, list(INTROS[split])))]
    with_outline, with_repeat = bool(rng.random() < 0.6), bool(rng.random() < 0.6)
    if with_outline:
        plan.append(Planned(SlideSpec("text", 0, "", title="Outline", lines=tissue.topics), pool.outline))
    n_slides = 3 if with_outline and with_repeat else 4
    ihc_at = int(rng.integers(0, n_slides)) if rng.random() < 0.6 else -1
    aside_at = int(rng.integers(1, n_slides))  # between two tissue slides: both neighbours are histology
    first_tissue = len(plan)
    for k in range(n_slides):
        if k == aside_at:
            kind = "photo" if rng.random() < 0.5 else "presenter"
            talk = ASIDE_MEDICAL[split] if rng.random() < 0.5 else ASIDE_CHATTER[split]
            plan.append(Planned(SlideSpec(kind, 0, "", seed=seed * 10 + 9), _pick(rng, list(talk))))
        kind = "ihc" if k == ihc_at else "histology"
        line = _pick(rng, ihc if kind == "ihc" else he)
        plan.append(Planned(SlideSpec(kind, 0, "", seed=seed * 10 + k, pointer=bool(rng.random() < 0.3)), line))
    if with_repeat:
        original = plan[first_tissue]
        again = SlideSpec(original.spec.kind, 0, "", seed=original.spec.seed)
        same_kind = ihc if again.kind == "ihc" else he
        line = _pick(rng, same_kind or he or ihc)  # new words about a picture seen before
        plan.append(Planned(again, line, repeat_of=first_tissue))
    plan.append(Planned(SlideSpec("text", 0, "", title="Thank you", lines=("Questions?",)),
                        _pick(rng, list(OUTROS[split]))))
    for item in plan:
        item.spec.narration = item.line.text
        item.spec.seconds = _seconds(item.line)
    return tissue, plan


def truth_dict(name: str, video: Path, split: str, seed: int, tissue: Tissue, plan: list[Planned],
               size: tuple[int, int], fps: int) -> dict[str, Any]:
    """The truth file's content: the video's identity plus one entry per slide, in time order."""
    segments: list[dict[str, Any]] = []
    t = 0.0
    for item in plan:
        end = round(t + item.spec.seconds, 3)
        segments.append({
            "t_start": round(t, 3), "t_end": end, "kind": item.spec.kind,
            "histology": item.spec.kind in HISTOLOGY_KINDS, "still": item.spec.is_still,
            "medical": bool(item.line.terms), "narration": item.line.text, "terms": list(item.line.terms),
            "repeat_of": item.repeat_of})
        t = end
    return {"file": name, "sha256": hashlib.sha256(video.read_bytes()).hexdigest(), "split": split,
            "seed": seed, "tissue": tissue.name, "size": list(size), "fps": fps,
            "duration_s": round(t, 3), "segments": segments}


def make_eval_lecture(folder: Path, split: str, index: int, size: tuple[int, int] = (320, 240),
                      fps: int = 10) -> tuple[Path, Path]:
    """Write `<split>-NN.mp4` and its `.truth.json` into `folder`; returns both paths."""
    seeds = SPLIT_SEEDS[split]
    if not 0 <= index < len(seeds):
        raise ValueError(f"{split} has {len(seeds)} lectures; index {index} is out of range")
    seed = seeds[index]
    tissue, plan = lecture_plan(split, seed)
    name = f"{split}-{index:02d}.mp4"
    video, truth_path = folder / name, folder / f"{split}-{index:02d}.truth.json"
    tmp = folder / (name + ".part.mp4")
    make_lecture(tmp, [item.spec for item in plan], size=size, fps=fps)
    os.replace(tmp, video)  # a half-written lecture never sits next to a truth file
    truth = truth_dict(name, video, split, seed, tissue, plan, size, fps)
    truth_path.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return video, truth_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write narrated lectures with truth files for `quilt eval`.")
    parser.add_argument("--out", type=Path, required=True, help="folder for <split>-NN.mp4 and .truth.json")
    parser.add_argument("--split", choices=sorted(SPLIT_SEEDS), required=True,
                        help="tuning: for adjusting the pipeline; heldout: only ever scored")
    parser.add_argument("--count", type=int, default=4, help="how many lectures (default 4)")
    parser.add_argument("--first", type=int, default=0, help="index of the first lecture (default 0)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for index in range(args.first, args.first + args.count):
        video, truth_path = make_eval_lecture(args.out, args.split, index)
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        print(f"{video} {truth['duration_s']:.1f}s {len(truth['segments'])} slides ({truth['tissue']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
