"""What the field lectures say, and in which voices.

Sentences are written for this set alone (none is shared with the tuning generator). Each
topic's lines are dealt to the two splits by position (even: tuning, odd: heldout), so the
splits never share a sentence.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass
from math import gcd

import numpy as np
from scipy.signal import resample_poly

AUDIO_RATE = 44_100  # the field lectures carry 44.1 kHz stereo, as screen recorders write
# espeak-ng voices and variants the tuning generator never uses (it speaks en-us at 150 wpm).
VOICES = ("en-gb", "en-us+f3", "en-gb-x-rp+m4", "en-gb-scotland", "en-us+f5", "en-gb+m7", "en-029+f2")
SPEEDS_WPM = (130, 185)


@dataclass(frozen=True)
class Said:
    text: str
    terms: tuple[str, ...] = ()  # histopathology terms spoken (empty: chatter)


def _s(text: str, *terms: str) -> Said:
    return Said(text, terms)


@dataclass(frozen=True)
class Topic:
    title: str
    captions: tuple[str, ...]  # words a slide shows under its picture
    he: tuple[Said, ...]
    ihc: tuple[Said, ...]
    overview: Said  # medical words over a bullet slide (not histology)
    bullets: tuple[str, ...]


TOPICS = (
    Topic("Thyroid gland", ("Papillary carcinoma", "Follicles with colloid", "Hashimoto thyroiditis"), he=(
        _s("Papillary thyroid carcinoma has nuclei with grooves and pseudoinclusions.",
           "papillary thyroid carcinoma", "nuclei"),
        _s("The thyroid follicles are filled with pink colloid.", "thyroid", "colloid"),
        _s("Psammoma bodies are round calcifications with concentric layers.", "psammoma body", "calcification"),
        _s("In Hashimoto thyroiditis lymphoid follicles with germinal centers replace the gland.",
           "Hashimoto thyroiditis", "lymphoid follicle", "germinal center"),
        _s("Hurthle cells have abundant granular eosinophilic cytoplasm.", "eosinophilic", "cytoplasm"),
        _s("A follicular adenoma is surrounded by a thin fibrous capsule.", "follicular adenoma", "capsule"),
        _s("Medullary carcinoma shows nests of cells in an amyloid stroma.",
           "medullary carcinoma", "amyloid", "stroma"),
        _s("Anaplastic carcinoma shows bizarre giant cells and many mitoses.", "anaplastic carcinoma", "mitoses")),
        ihc=(_s("Thyroglobulin immunostaining marks the colloid and the follicular cells.", "thyroglobulin", "colloid"),
             _s("Calcitonin is positive in the C cells of this medullary carcinoma.",
                "calcitonin", "medullary carcinoma"),
             _s("TTF-1 is expressed in the nuclei of the thyroid follicular cells.", "TTF-1", "nuclei", "thyroid"),
             _s("Ki-67 staining shows a high proliferation index in this tumor.", "Ki-67", "tumor")),
        overview=_s("We will discuss goiter, thyroiditis and thyroid carcinoma.", "thyroiditis", "thyroid"),
        bullets=("Goiter", "Thyroiditis", "Carcinoma")),
    Topic("Skin pathology", ("Melanoma in situ", "Basal cell carcinoma", "Psoriasis"), he=(
        _s("Basal cell carcinoma shows palisading nuclei at the edge of the tumor nests.",
           "basal cell carcinoma", "nuclei"),
        _s("The epidermis shows hyperkeratosis and parakeratosis.", "epidermis", "hyperkeratosis", "parakeratosis"),
        _s("Melanoma cells with large nucleoli spread upward through the epidermis.",
           "melanoma", "nucleoli", "epidermis"),
        _s("Psoriasis has regular acanthosis with thin suprapapillary plates.", "psoriasis", "acanthosis"),
        _s("A seborrheic keratosis contains horn cysts filled with keratin.", "seborrheic keratosis", "keratin"),
        _s("Spongiosis separates the keratinocytes in this eczematous dermatitis.",
           "spongiosis", "keratinocyte", "dermatitis"),
        _s("The dermis contains a dense lymphocytic infiltrate around the vessels.",
           "dermis", "lymphocytic infiltrate"),
        _s("Squamous cell carcinoma of the skin invades the dermis with keratin pearls.",
           "squamous cell carcinoma", "dermis", "keratin pearl")),
        ihc=(_s("S100 highlights the melanocytes along the basal layer.", "S100", "melanocyte"),
             _s("Melan-A staining outlines the nests of this melanoma.", "melan-A", "melanoma"),
             _s("BerEP4 is positive in the basaloid cells of this carcinoma.", "carcinoma"),
             _s("SOX10 marks the nuclei of the melanocytes in the epidermis.", "SOX10", "nuclei", "epidermis")),
        overview=_s("Today we cover dermatitis, psoriasis and melanoma.", "dermatitis", "psoriasis", "melanoma"),
        bullets=("Inflammatory skin disease", "Keratinocyte tumours", "Melanocytic lesions")),
    Topic("Stomach", ("Gastritis", "Intestinal metaplasia", "Gastric cancer"), he=(
        _s("Helicobacter organisms sit on the surface of the gastric mucosa.", "Helicobacter", "gastric mucosa"),
        _s("Intestinal metaplasia brings goblet cells into the gastric glands.",
           "intestinal metaplasia", "goblet cell", "gland"),
        _s("Chronic gastritis shows plasma cells crowding the lamina propria.",
           "chronic gastritis", "plasma cell", "lamina propria"),
        _s("This gastric ulcer has a base of granulation tissue and fibrin.", "ulcer", "granulation tissue", "fibrin"),
        _s("Diffuse gastric carcinoma is made of signet ring cells infiltrating the wall.",
           "signet ring cell", "carcinoma"),
        _s("Parietal cells with pink cytoplasm line the oxyntic glands.", "parietal cell", "cytoplasm", "gland"),
        _s("A gastrointestinal stromal tumor is built of spindle cells in fascicles.",
           "gastrointestinal stromal tumor", "spindle cell"),
        _s("Foveolar hyperplasia lengthens the pits of the gastric mucosa.", "hyperplasia", "gastric mucosa")),
        ihc=(_s("CD117 is strongly positive in this gastrointestinal stromal tumor.",
                "CD117", "gastrointestinal stromal tumor"),
             _s("An immunostain for Helicobacter shows many curved bacteria.", "immunostain", "Helicobacter"),
             _s("HER2 staining of the gastric adenocarcinoma is strong and complete.", "HER2", "adenocarcinoma"),
             _s("Chromogranin marks the neuroendocrine cells in the gastric glands.", "chromogranin", "gland")),
        overview=_s("The plan is gastritis, metaplasia and gastric adenocarcinoma.",
                    "gastritis", "metaplasia", "adenocarcinoma"),
        bullets=("Gastritis", "Metaplasia", "Adenocarcinoma")),
    Topic("Prostate", ("Benign glands", "Adenocarcinoma", "Perineural invasion"), he=(
        _s("Benign prostate glands have a basal cell layer and papillary infoldings.", "prostate", "basal cell"),
        _s("Prostatic adenocarcinoma forms small crowded glands with prominent nucleoli.",
           "adenocarcinoma", "nucleoli"),
        _s("Perineural invasion is seen where tumor glands wrap around the nerve.", "perineural invasion", "nerve"),
        _s("Corpora amylacea lie in the lumen of these benign glands.", "corpora amylacea", "lumen", "gland"),
        _s("Nodular hyperplasia enlarges the prostate with stromal and glandular nodules.",
           "nodular hyperplasia", "prostate"),
        _s("A cribriform pattern means at least Gleason pattern four.", "cribriform", "Gleason pattern"),
        _s("Granulomatous prostatitis has histiocytes and giant cells around the ducts.",
           "prostatitis", "histiocyte", "giant cell"),
        _s("High grade prostatic intraepithelial neoplasia keeps its basal cells.",
           "prostatic intraepithelial neoplasia", "basal cell")),
        ihc=(_s("p63 is absent around the malignant glands in this prostate biopsy.", "p63", "prostate", "biopsy"),
             _s("AMACR is strongly positive in the cytoplasm of the cancer cells.", "AMACR", "cytoplasm"),
             _s("PSA immunostaining confirms a prostatic origin of the metastasis.", "PSA", "metastasis"),
             _s("High molecular weight cytokeratin stains the basal cells of benign glands.",
                "cytokeratin", "basal cell", "gland")),
        overview=_s("This talk covers prostatitis, hyperplasia and prostate cancer grading.",
                    "prostatitis", "hyperplasia", "prostate"),
        bullets=("Prostatitis", "Hyperplasia", "Grading cancer")),
    Topic("Bone and soft tissue", ("Osteosarcoma", "Lipoma", "Giant cell tumour"), he=(
        _s("Osteosarcoma shows malignant cells laying down lace-like osteoid.", "osteosarcoma", "osteoid"),
        _s("A lipoma is made of mature adipocytes with thin septa.", "lipoma", "adipocyte"),
        _s("Giant cell tumor of bone has osteoclast-like giant cells among oval stromal cells.",
           "giant cell tumor", "osteoclast"),
        _s("Chondrosarcoma shows atypical chondrocytes in a blue cartilage matrix.",
           "chondrosarcoma", "chondrocyte", "cartilage"),
        _s("Nodular fasciitis grows in a loose myxoid stroma with extravasated red cells.",
           "nodular fasciitis", "myxoid", "stroma"),
        _s("Ewing sarcoma is a sheet of small round blue cells.", "Ewing sarcoma", "small round blue cell"),
        _s("Woven bone with osteoblast rimming is seen in this fracture callus.", "woven bone", "osteoblast"),
        _s("A schwannoma has Verocay bodies between palisaded nuclei.", "schwannoma", "Verocay body", "nuclei")),
        ihc=(_s("Desmin and myogenin are positive in this rhabdomyosarcoma.", "desmin", "myogenin", "rhabdomyosarcoma"),
             _s("CD99 shows membrane staining in the Ewing sarcoma cells.", "CD99", "Ewing sarcoma"),
             _s("MDM2 is amplified in the nuclei of this liposarcoma.", "MDM2", "nuclei", "liposarcoma"),
             _s("S100 stains the Schwann cells of this nerve sheath tumor.", "S100", "Schwann cell")),
        overview=_s("We move from lipoma to osteosarcoma and Ewing sarcoma.",
                    "lipoma", "osteosarcoma", "Ewing sarcoma"),
        bullets=("Fat tumours", "Bone tumours", "Round cell sarcomas")),
)

# Chatter over title slides, charts and the presenter; dealt to the splits like the topics' lines.
OPENINGS = (_s("Alright, can everyone see my screen now?"), _s("Welcome to the Thursday teaching session."),
            _s("Good afternoon, I hope the sound is okay for everyone."), _s("Hello and thanks for joining today."))
CLOSINGS = (_s("That brings us to the end, thanks a lot."), _s("I will upload these slides after the session."),
            _s("Any questions can go in the chat, goodbye."), _s("Thanks, and see you all next week."))
ASIDES = (_s("These numbers come from our own department last year."),
          _s("Let me just move my camera a little bit."),
          _s("I remember being confused by this as a resident."),
          _s("Our lab got a new scanner this spring."))


def split_lines(lines: tuple[Said, ...], split: str) -> list[Said]:
    """The split's share of `lines`: even positions for tuning, odd for heldout."""
    return list(lines[0 if split == "tuning" else 1::2])


@dataclass(frozen=True)
class Voice:
    name: str
    wpm: int
    seed: int  # for the room noise under the voice


def voice_for(rng: np.random.Generator) -> Voice:
    return Voice(str(rng.choice(VOICES)), int(rng.integers(SPEEDS_WPM[0], SPEEDS_WPM[1] + 1)),
                 int(rng.integers(0, 2**31)))


def say(text: str, voice: Voice) -> np.ndarray:
    """Mono float32 speech at AUDIO_RATE, from espeak-ng's WAV on stdout."""
    if not text.strip():
        return np.zeros(0, np.float32)
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it speaks the field lectures")
    # "--" so that a sentence starting with "-" is not read as an option.
    proc = subprocess.run([exe, "-v", voice.name, "-s", str(voice.wpm), "--stdout", "--", text],
                          capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    with wave.open(io.BytesIO(proc.stdout), "rb") as wav:
        rate, width = wav.getframerate(), wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise RuntimeError(f"espeak-ng wrote {8 * width}-bit audio; only 16-bit is handled")
    data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    common = gcd(AUDIO_RATE, rate)
    return resample_poly(data, AUDIO_RATE // common, rate // common).astype(np.float32)
