"""The histology classifier separates stained tissue from slides of text and everyday photos."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage
from skimage import data
from skimage.color import hed2rgb

from quilt.stages.histo.scorers import FEATURE_NAMES, HISTO_MODEL_NAME, LocalHistoScorer, histo_features, histo_score
from quilt.testing import impure
from quilt.testing.tissue_set import SKIMAGE_NEGATIVES


def synthetic_he(seed: int, shape: tuple[int, int] = (480, 640)) -> np.ndarray:
    """H&E-like tile: eosin stroma, haematoxylin nuclei, a few empty (white) spaces."""
    rng = np.random.default_rng(seed)
    h, w = shape

    def field(sigma: float) -> np.ndarray:
        f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
        return (f - f.mean()) / (f.std() + 1e-9)

    nuclei = field(rng.uniform(2.0, 4.0)) > rng.uniform(0.8, 1.4)
    stroma = field(rng.uniform(8.0, 20.0))
    lumen = field(30.0) > rng.uniform(1.2, 2.0)
    h_conc = np.where(nuclei, rng.uniform(0.08, 0.2), rng.uniform(0.0, 0.02)) + 0.01 * field(1.0)
    e_conc = rng.uniform(0.02, 0.06) * (1.0 + 0.4 * stroma)
    hed = np.stack([h_conc, e_conc, np.zeros(shape)], axis=-1)
    hed[lumen] *= 0.05
    rgb = hed2rgb(np.clip(hed, 0.0, None))
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def text_slide(shape: tuple[int, int] = (480, 640), background: str | tuple[int, int, int] = "white",
               ink: str = "black") -> np.ndarray:
    """Lecture slide with a title and bullet lines (black on white unless told otherwise)."""
    img = Image.new("RGB", (shape[1], shape[0]), background)
    draw = ImageDraw.Draw(img)
    draw.text((40, 30), "Liver histology: portal triad", fill=ink, font_size=36)
    lines = ["- hepatocytes arranged in plates", "- bile duct, portal vein, hepatic artery",
             "- sinusoids lined by endothelium", "- Kupffer cells", "- zone 1, zone 2, zone 3"]
    for i, line in enumerate(lines):
        draw.text((60, 110 + 55 * i), line, fill=ink, font_size=28)
    return np.asarray(img)


def tissue_images() -> dict[str, np.ndarray]:
    out = {f"synthetic_he_{s}": synthetic_he(s) for s in range(4)}
    out["ihc_crop"] = data.immunohistochemistry()[100:400, 100:500]
    out["ihc_full"] = data.immunohistochemistry()
    return out


def non_tissue_images() -> dict[str, np.ndarray]:
    # Coloured slide templates share stain hues but are flat fills.
    return {"text_slide": text_slide(), "blue_slide": text_slide(background=(68, 114, 196), ink="white"),
            "purple_slide": text_slide(background=(112, 48, 160), ink="white"),
            "pink_slide": text_slide(background=(230, 180, 220)), "astronaut": data.astronaut(),
            "camera": data.camera(), "coffee": data.coffee(), "chelsea": data.chelsea()}


@pytest.mark.parametrize("name", list(tissue_images()))
def test_tissue_scores_high(name: str) -> None:
    image = tissue_images()[name]
    assert histo_score(image) > 0.7, histo_features(image)


@pytest.mark.parametrize("name", list(non_tissue_images()))
def test_non_tissue_scores_low(name: str) -> None:
    image = non_tissue_images()[name]
    assert histo_score(image) < 0.3, histo_features(image)


def test_score_is_deterministic_and_bounded() -> None:
    image = synthetic_he(7)
    a, b = histo_score(image), histo_score(image.copy())
    assert a == b and 0.0 <= a <= 1.0
    assert histo_score(np.zeros((10, 10, 3), np.uint8)) < 0.3
    assert 0.0 <= histo_score(np.full((1, 1, 3), 255, np.uint8)) <= 1.0


def test_grayscale_and_rgba_accepted() -> None:
    assert histo_score(data.camera()) == histo_score(np.stack([data.camera()] * 3, axis=-1))
    rgba = np.dstack([synthetic_he(1), np.full((480, 640), 255, np.uint8)])
    assert histo_score(rgba) == histo_score(synthetic_he(1))


def test_local_scorer_and_speed() -> None:
    scorer = LocalHistoScorer()
    assert scorer.name == HISTO_MODEL_NAME
    images = [synthetic_he(0), text_slide()]
    scorer.score(images)  # warm-up
    t0 = time.perf_counter()
    for _ in range(10):
        scores = scorer.score(images)
    per_image = (time.perf_counter() - t0) / 20
    assert scores[0] > 0.7 > 0.3 > scores[1]
    assert per_image < 0.02, f"{per_image * 1000:.1f} ms per 640x480 image"


@pytest.mark.parametrize("name", ["arrow", "text", "panel2x2", "caption"])
def test_tissue_with_overlays_is_still_tissue(name: str) -> None:
    image = {"arrow": impure.arrow_on_tissue, "text": impure.text_on_tissue, "caption": impure.caption_band,
             "panel2x2": lambda s: impure.multi_panel(s, 2, 2)}[name](21)[0]
    assert histo_score(image) > 0.7, histo_features(image)


@pytest.mark.parametrize("name", SKIMAGE_NEGATIVES["heldout"])
def test_real_images_never_trained_on_score_low(name: str) -> None:
    image = getattr(data, name)()
    assert histo_score(image) < 0.3, histo_features(image)


def test_presenter_scores_low() -> None:
    assert max(histo_score(impure.presenter(s)[0]) for s in range(3)) < 0.3


def test_features_are_finite_for_odd_inputs() -> None:
    images = [np.zeros((1, 1, 3), np.uint8), np.full((3, 500, 3), 200, np.uint8), data.camera(),
              synthetic_he(2).astype(np.float32) / 255.0, np.full((1080, 1920, 3), 255, np.uint8)]
    for image in images:
        feats = histo_features(image)
        assert list(feats) == list(FEATURE_NAMES)
        assert all(np.isfinite(v) for v in feats.values()), feats
    assert histo_score(images[3]) == pytest.approx(histo_score(synthetic_he(2)), abs=1e-4)  # float [0, 1] as uint8
