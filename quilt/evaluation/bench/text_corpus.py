"""Narration sentences for `quilt bench text`, written for this project.

HELD_OUT is the benchmark: no test, threshold or term-list edit may be tuned on it, or
its figures stop saying how the denoiser does on narration it has never seen. DEV is a
separate, smaller set with other sentences and other terms; tune on DEV only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSentence:
    text: str
    terms: tuple[str, ...] = ()  # medical terms the sentence says, to be found in the transcript
    chatter: bool = False  # chatter or logistics: the denoiser should mark it not medical


def _m(text: str, *terms: str) -> BenchSentence:
    return BenchSentence(text, tuple(terms))


def _c(text: str) -> BenchSentence:
    return BenchSentence(text, (), True)


# Do not tune on these (see the module docstring).
HELD_OUT: tuple[BenchSentence, ...] = (
    _m("This liver biopsy stained with hematoxylin and eosin shows marked steatosis.",
       "hematoxylin", "eosin", "steatosis"),
    _m("The portal tract contains a bile duct and a dense lymphocytic infiltrate.", "portal tract", "bile duct"),
    _m("Several hepatocytes contain eosinophilic Mallory-Denk bodies.", "hepatocyte", "Mallory-Denk body"),
    _m("The trichrome stain highlights bridging fibrosis and early cirrhosis.",
       "trichrome", "fibrosis", "cirrhosis"),
    _m("A well formed granuloma with a Langhans giant cell sits in the lung.", "granuloma", "Langhans giant cell"),
    _m("In the center there is caseous necrosis surrounded by epithelioid histiocytes.",
       "caseous necrosis", "epithelioid histiocyte"),
    _m("These papillae have nuclear grooves and Orphan Annie nuclei typical of papillary thyroid carcinoma.",
       "nuclear groove", "Orphan Annie nuclei", "papillary thyroid carcinoma"),
    _m("Note the concentric psammoma bodies within the stroma.", "psammoma body", "stroma"),
    _m("A large binucleate Reed-Sternberg cell lies among small lymphocytes.", "Reed-Sternberg cell", "lymphocyte"),
    _m("The Congo red stain shows amyloid in the vessel walls.", "Congo red", "amyloid"),
    _m("Nests of squamous cell carcinoma form keratin pearls.", "squamous cell carcinoma", "keratin pearl"),
    _m("Signet ring cells infiltrate the gastric wall in this diffuse adenocarcinoma.",
       "signet ring cell", "adenocarcinoma"),
    _m("The glomerulus shows thickened capillary loops.", "glomerulus"),
    _m("Ductal carcinoma in situ fills the duct but the myoepithelial cells remain.",
       "ductal carcinoma in situ", "myoepithelial cell"),
    _m("Immunohistochemistry for Ki-67 labels most of the tumor nuclei.", "immunohistochemistry", "Ki-67"),
    _m("The tumor cells are positive for cytokeratin and negative for CD20.", "cytokeratin", "CD20"),
    _m("The lamina propria is full of plasma cells and eosinophils.", "lamina propria", "plasma cell", "eosinophil"),
    _m("Goblet cells in the esophagus mean intestinal metaplasia, in other words Barrett esophagus.",
       "goblet cell", "intestinal metaplasia", "Barrett esophagus"),
    _m("A crypt abscess full of neutrophils is a clue to ulcerative colitis.",
       "crypt abscess", "neutrophil", "ulcerative colitis"),
    _m("Paneth cells sit at the base of the crypts.", "Paneth cell"),
    _m("Infiltrating glands are surrounded by desmoplasia.", "gland", "desmoplasia"),
    _m("The nuclei show marked nuclear pleomorphism and hyperchromasia.",
       "nuclear pleomorphism", "hyperchromasia"),
    _m("An atypical mitotic figure is seen near the apoptotic debris.", "mitotic figure"),
    _m("Schiller-Duval bodies point to a yolk sac tumor.", "Schiller-Duval body", "yolk sac tumor"),
    _m("A reticulin stain outlines the nests of this tumor.", "reticulin"),
    _m("Periodic acid-Schiff with diastase highlights the globules.", "periodic acid-Schiff", "diastase"),
    _m("On a Giemsa stain Helicobacter pylori organisms line the gastric pits.", "Giemsa", "Helicobacter pylori"),
    _m("Celiac disease shows villous blunting and many intraepithelial lymphocytes.",
       "celiac disease", "lymphocyte"),
    _m("The marrow contains myeloblasts and scattered megakaryocytes.", "myeloblast", "megakaryocyte"),
    _m("The melanoma cells stain for S100 and HMB-45.", "melanoma", "S100", "HMB-45"),
    _m("Thyroid follicles are filled with pink colloid.", "thyroid follicle", "colloid"),
    _m("Hashimoto thyroiditis has lymphoid follicles with germinal centers.",
       "Hashimoto thyroiditis", "germinal center"),
    _c("Welcome back everyone, I hope you had a good week."),
    _c("If you like these videos please like and subscribe."),
    _c("The link to the slides is in the description below."),
    _c("In the next video we will talk about the exam."),
    _c("Let's take a five minute break and come back."),
    _c("Thanks for watching and see you next time."),
    _c("Can everyone hear me at the back of the room?"),
    _c("Please turn off your microphones for now."),
    _c("Remember that the assignment is due on Friday."),
    _c("My internet connection dropped for a moment, sorry about that."),
)

# Tuning set: different sentences and terms from HELD_OUT.
DEV: tuple[BenchSentence, ...] = (
    _m("The hepatocytes around the central vein show ballooning degeneration.", "hepatocyte", "central vein"),
    _m("Kupffer cells line the sinusoids of the liver.", "Kupffer cell", "sinusoid"),
    _m("This is a seminoma with fibrous septa and lymphocytes.", "seminoma", "lymphocyte"),
    _m("The urothelium here is thickened with papillary fronds.", "urothelium"),
    _m("Auer rods are seen in the cytoplasm of these myeloblasts.", "cytoplasm", "myeloblast"),
    _m("Eosin stains the collagen of the dermis pink.", "eosin", "dermis"),
    _m("The alveoli are filled with neutrophils in this pneumonia.", "alveoli", "neutrophil"),
    _m("Call-Exner bodies are typical of a granulosa cell tumor.", "Call-Exner body", "granulosa cell tumor"),
    _c("Okay so that is it for today, see you on Monday."),
    _c("Don't forget to hit the bell for notifications."),
)
