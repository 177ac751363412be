"""The CLIP zero-shot histology filter (quilt.stages.histo.clip): its math, and the project's own CLIP serving it.

The integration test trains the tiny CLIP on a topic that mixes generated tissue pairs, captioned as histology,
with pairs that are not histology (crops of scikit-image's bundled photos, synthetic lecture slides, desktops,
diagrams and charts): the general knowledge a pretrained CLIP brings, in miniature. The checkpoint is promoted
into a test-local Triton and held-out images (other seeds, other parts of the photos) are scored through
`load_scorer("quilt.adapters.served_clip:served_clip")` and through the `histo_classifier` Triton model.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data as skdata

from quilt.adapters.served_clip import ENV_HISTO_PROMPTS, ENV_NONHISTO_PROMPTS, ENV_URL, SPEC
from quilt.adapters.store import LocalStore, ObjectStore
from quilt.core.imaging import encode_jpeg
from quilt.core.records import PairRecord
from quilt.ops.search import SearchError
from quilt.stack.ports import free_port
from quilt.stack.triton import MODEL_REPOSITORY, start_triton, stop_triton
from quilt.stages.histo.clip import HISTO_PROMPTS, NONHISTO_PROMPTS, ClipZeroShotScorer, histology_probability
from quilt.stages.histo.model import HistoModelError
from quilt.stages.histo.scorers import HistoScorer, TritonHistoScorer, load_scorer
from quilt.testing.slides import histology_slide
from quilt.testing.tissue_pairs import TISSUE_TYPES, tissue_image
from tests.training.test_training import tiny_raw
from training.config import parse_config
from training.evaluation import encode_images, encode_texts
from training.job import TrainingJob
from training.model import image_size, image_tensor
from training.promote import promote
from training.sources import FolderPairSource, write_folder_topic

SIZE = 64  # generated images; the tiny CLIP sees 32x32
PREFIX = "ckpt/histo-clip"
METRIC = "histo_acc"  # the filter's held-out accuracy, recorded in each checkpoint's lineage and promoted on


# -- the math --------------------------------------------------------------------------------------------------------

def _unit(*rows: list[float]) -> np.ndarray:
    a = np.array(rows, dtype=np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_an_image_like_a_histology_prompt_scores_high_and_one_like_another_prompt_low() -> None:
    histo = _unit([1, 0, 0, 0], [0.9, 0.1, 0, 0])
    other = _unit([0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1])
    images = np.concatenate([histo[:1], other[1:2], _unit([0, 0, 0, 1])])
    p = histology_probability(images, histo, other)
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))
    assert p[0] > 0.99 and p[1] < 0.01 and p[2] < 0.01
    # Equally like every prompt: each prompt's share, here 2 of 5.
    eye = np.eye(5)
    assert histology_probability(np.ones((1, 5)), eye[:2], eye[2:])[0] == pytest.approx(2 / 5)


def test_probability_is_the_histology_prompts_share_of_a_tempered_softmax() -> None:
    rng = np.random.default_rng(0)
    images, histo, other = rng.normal(size=(6, 8)), rng.normal(size=(3, 8)), rng.normal(size=(4, 8))
    p = histology_probability(images, histo, other, temperature=7.0)
    prompts = np.concatenate([histo, other])
    cos = (images / np.linalg.norm(images, axis=1, keepdims=True)) @ (
        prompts / np.linalg.norm(prompts, axis=1, keepdims=True)).T
    expected = np.exp(7.0 * cos)[:, :3].sum(1) / np.exp(7.0 * cos).sum(1)
    np.testing.assert_allclose(p, expected, rtol=1e-9)
    # Scaling embeddings changes nothing (rows are normalised); a cooler softmax is more decisive.
    np.testing.assert_allclose(histology_probability(images * 3.0, histo * 0.1, other, 7.0), p, rtol=1e-9)
    hot, cold = histology_probability(images, histo, other, 1.0), histology_probability(images, histo, other, 100.0)
    assert np.all(np.abs(cold - 0.5) >= np.abs(hot - 0.5) - 1e-12) and np.all(np.abs(hot - 3 / 7) < 0.2)
    # Huge logits neither overflow nor leave [0, 1].
    assert np.all(np.isfinite(histology_probability(images, histo, other, 1e6)))


def test_empty_inputs_and_bad_arguments() -> None:
    histo, other = _unit([1, 0]), _unit([0, 1])
    assert histology_probability(np.zeros((0, 2)), histo, other).shape == (0,)
    with pytest.raises(ValueError, match="at least one"):
        histology_probability(histo, histo, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="temperature"):
        histology_probability(histo, histo, other, temperature=0.0)


class FakeClip:
    """Text and image embeddings by hand: an image is 'histology' when it is pink (red and blue over green)."""

    def __init__(self) -> None:
        self.version = 1
        self.text_calls = 0

    def served_version(self) -> int:
        if self.version == 0:
            raise SearchError("Triton at fake:1 serves no ready 'clip' model; promote a checkpoint first "
                              "(python -m training.promote)")
        return self.version

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.text_calls += 1
        return _unit(*[[1.0, 0.05 * i] if "histo" in t or "stained" in t else [0.0, 1.0] for i, t in
                       enumerate(texts)])

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        rows = []
        for image in images:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and max(image.shape) <= 448
            rgb = image.astype(np.float64).mean(axis=(0, 1))
            rows.append([max(rgb[0] + rgb[2] - 2 * rgb[1], 0.0), max(2 * rgb[1] - rgb[0] - rgb[2], 0.0) + 1e-3])
        return _unit(*rows) if rows else np.zeros((0, 2))


def test_scorer_follows_the_served_version_and_caches_prompts_per_version() -> None:
    clip = FakeClip()
    scorer = ClipZeroShotScorer(clip, ["a histopathology image"], ["a photo", "a slide"])
    assert isinstance(scorer, HistoScorer) and scorer.name == "clip-zero-shot-v1"
    pink = np.full((600, 900, 3), (200, 90, 180), np.uint8)  # large: downscaled before it is sent
    grey = np.full((40, 40), 120, np.uint8)  # one channel
    green = np.full((30, 20, 4), (60, 160, 60, 255), np.uint8)  # RGBA
    scores = scorer.score([pink, grey, green])
    assert scores[0] > 0.9 and scores[1] < 0.1 and scores[2] < 0.1
    assert scorer.score([pink[:50, :50] / 255.0]) == pytest.approx(scores[:1], abs=1e-6)  # floats are [0, 1]
    assert scorer.score([]) == [] and clip.text_calls == 1
    scorer.score([pink])
    assert clip.text_calls == 1  # prompts are embedded once per served version
    clip.version = 2
    scorer.score([pink])
    assert scorer.name == "clip-zero-shot-v2" and clip.text_calls == 2
    with pytest.raises(HistoModelError, match="at least one"):
        ClipZeroShotScorer(clip, [" "], ["a photo"])


def test_scoring_when_the_model_went_away_is_retryable() -> None:
    from quilt.stages.asr.whisper import ModelUnavailable

    clip = FakeClip()
    scorer = ClipZeroShotScorer(clip)
    clip.version = 0
    with pytest.raises(ModelUnavailable, match="promote"):
        scorer.score([np.zeros((8, 8, 3), np.uint8)])


def test_the_factory_reads_its_url_and_prompts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import quilt.adapters.triton_clip

    urls: list[str] = []

    class RecordingClip(FakeClip):
        def __init__(self, url: str) -> None:
            super().__init__()
            urls.append(url)

        def close(self) -> None:
            pass

    monkeypatch.setattr(quilt.adapters.triton_clip, "TritonClip", RecordingClip)
    monkeypatch.setenv(ENV_URL, "clip-host:8001")
    monkeypatch.setenv(ENV_HISTO_PROMPTS, "a histopathology image | stained tissue|")
    monkeypatch.setenv(ENV_NONHISTO_PROMPTS, "a photo")
    scorer = load_scorer(SPEC)
    assert isinstance(scorer, ClipZeroShotScorer) and urls == ["clip-host:8001"]
    assert scorer.positive == ("a histopathology image", "stained tissue") and scorer.negative == ("a photo",)
    # Without the variables: the `triton` setting and the default prompts.
    for name in (ENV_URL, ENV_HISTO_PROMPTS, ENV_NONHISTO_PROMPTS):
        monkeypatch.delenv(name)
    monkeypatch.setenv("QUILT_TRITON_URL", "settings-host:9001")
    scorer = load_scorer(SPEC)
    assert isinstance(scorer, ClipZeroShotScorer) and urls[-1] == "settings-host:9001"
    assert scorer.positive == HISTO_PROMPTS and scorer.negative == NONHISTO_PROMPTS


def test_unreachable_triton_is_a_histo_model_error_naming_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv(ENV_URL, url)
    with pytest.raises(HistoModelError, match="promote a checkpoint") as err:
        load_scorer(SPEC)
    assert url in str(err.value) and "not reachable" in str(err.value)


# -- generated pairs: histology and everything else ------------------------------------------------------------------

PHOTOS: tuple[tuple[str, Callable[[], np.ndarray], str], ...] = (
    ("astronaut", skdata.astronaut, "a person, an astronaut"),
    ("camera", skdata.camera, "a person with a camera"),
    ("faces", lambda: skdata.lfw_subset()[:100], "a person's face"),  # 100 small grey faces: a stack
    ("coffee", skdata.coffee, "an object, a cup of coffee"),
    ("chelsea", skdata.chelsea, "a cat"),
    ("rocket", skdata.rocket, "an object, a rocket"),
    ("motorcycle", lambda: skdata.stereo_motorcycle()[0], "an object, a motorcycle"),
    ("coins", skdata.coins, "an object, coins"),
    ("clock", skdata.clock, "an object, a clock"),
    ("brick", skdata.brick, "a brick wall"),
    ("grass", skdata.grass, "grass"),
    ("gravel", skdata.gravel, "gravel"),
    ("moon", skdata.moon, "the moon"),
    ("hubble", skdata.hubble_deep_field, "galaxies in the night sky"),
)
PHOTO_TEMPLATES = ("a photo of {}", "a picture of {}", "a photo showing {}", "a colour photo of {}")
HISTO_TEMPLATES = (
    "an H&E stained histopathology image of {t} tissue showing {a} and {b}",
    "a histopathology image of {t} tissue, {a} and {b}",
    "a microscope image of stained {t} tissue with {a}",
    "this H&E stained section of {t} tissue shows {a} and {b}",
    # Web captions are often generic; a pretrained CLIP has seen many like these.
    "an H&E stained histopathology image",
    "a histopathology image of tissue",
    "a microscope image of stained tissue",
)
CAPTIONS = {
    "slide": ("a lecture slide with text", "a lecture slide with a title and bullet points",
              "a presentation slide with text", "a slide of a lecture, text on a plain background"),
    "desktop": ("a screenshot of a computer desktop", "a screenshot of a computer desktop with windows",
                "a screenshot of windows and icons on a computer screen"),
    "diagram": ("a diagram", "a diagram with boxes and arrows", "a simple diagram of shapes connected by lines"),
    "chart": ("a chart or a table", "a bar chart", "a table with rows and columns"),
}
_SOURCES: dict[str, np.ndarray] = {}


def _rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3].astype(np.uint8))


def _resize(image: np.ndarray, size: int = SIZE) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def photo_crop(index: int, rng: np.random.Generator, held_out: bool) -> np.ndarray:
    """A square crop of one bundled photo: training crops from its left 60%, held-out ones from the rest.

    Of the stack of faces, the first 70 people are for training and the other 30 held out. Half the training
    crops get their colour channels shuffled, so that colour alone (pink, say) does not say "not a photo".
    """
    name, load, _ = PHOTOS[index]
    if name not in _SOURCES:
        _SOURCES[name] = np.asarray(load())
    source = _SOURCES[name]
    if name == "faces":
        person = int(rng.integers(70, 100)) if held_out else int(rng.integers(0, 70))
        image = _resize(_rgb((source[person] * 255).astype(np.uint8)))
    else:
        source = _SOURCES[name] = _rgb(source)
        h, w = source.shape[:2]
        x_lo, x_hi = (int(0.6 * w), w) if held_out else (0, int(0.6 * w))
        side = int(rng.integers(min(64, x_hi - x_lo, h), min(x_hi - x_lo, h, 220) + 1))
        x = int(rng.integers(x_lo, x_hi - side + 1))
        y = int(rng.integers(0, h - side + 1))
        image = _resize(source[y:y + side, x:x + side])
    if not held_out and rng.random() < 0.5:
        image = np.ascontiguousarray(image[..., rng.permutation(3)])
    return image


def _bars(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int,
          colour: tuple[int, ...], height: int) -> None:
    """Lines of 'text': words as short dark bars with gaps."""
    y = y0
    while y + height <= y1:
        x = x0
        end = int(rng.integers((x0 + x1) // 2, x1 + 1))
        while x < end:
            word = int(rng.integers(height * 2, height * 6))
            draw.rectangle((x, y, min(x + word, end), y + height - 1), fill=colour)
            x += word + height
        y += int(height * rng.uniform(1.8, 2.6))


def drawing(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A synthetic slide, desktop screenshot, diagram or chart, drawn at 4x and downscaled."""
    s = SIZE * 4
    light = tuple(int(v) for v in rng.integers(225, 256, 3))
    dark = tuple(int(v) for v in rng.integers(0, 70, 3))
    accent = tuple(int(v) for v in rng.integers(0, 256, 3))
    if kind == "slide" and rng.random() < 0.3:  # a dark theme
        light, dark = dark, light
    img = Image.new("RGB", (s, s), light)
    draw = ImageDraw.Draw(img)
    if kind == "slide":
        draw.rectangle((0, 0, s, int(s * rng.uniform(0.12, 0.22))), fill=accent)
        _bars(draw, rng, 16, 12, s - 16, 30, light if sum(accent) < 300 else dark, 12)
        _bars(draw, rng, 24, int(s * 0.3), s - 16, s - 12, dark, int(rng.integers(5, 10)))
    elif kind == "desktop":
        img.paste(tuple(int(v) for v in rng.integers(20, 160, 3)), (0, 0, s, s))
        draw.rectangle((0, s - 18, s, s), fill=(40, 40, 48))  # task bar
        for _ in range(int(rng.integers(1, 4))):
            x, y = int(rng.integers(0, s // 2)), int(rng.integers(0, s // 2))
            w, h = int(rng.integers(s // 3, s - x)), int(rng.integers(s // 3, s - 18 - y))
            draw.rectangle((x, y, x + w, y + h), fill=(240, 240, 240), outline=(90, 90, 90))
            draw.rectangle((x, y, x + w, y + 14), fill=accent)
            _bars(draw, rng, x + 6, y + 22, x + w - 6, y + h - 6, (30, 30, 30), 4)
        for i in range(int(rng.integers(2, 6))):  # icons
            draw.rectangle((6, 6 + 28 * i, 26, 26 + 28 * i), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    elif kind == "diagram":
        boxes = [(int(rng.integers(10, s - 70)), int(rng.integers(10, s - 50))) for _ in range(int(rng.integers(2, 5)))]
        for (ax, ay), (bx, by) in zip(boxes, boxes[1:], strict=False):
            draw.line((ax + 30, ay + 20, bx + 30, by + 20), fill=dark, width=3)
        for x, y in boxes:
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x, y, x + 60, y + 40), outline=dark, width=3, fill=accent)
    else:  # chart: bars on axes, or a table grid
        if rng.random() < 0.5:
            draw.line((20, 10, 20, s - 20, s - 10, s - 20), fill=dark, width=3)
            n = int(rng.integers(3, 8))
            for i in range(n):
                top = int(rng.integers(20, s - 40))
                draw.rectangle((30 + i * (s - 40) // n, top, 20 + (i + 1) * (s - 40) // n, s - 22), fill=accent)
        else:
            rows, cols = int(rng.integers(3, 8)), int(rng.integers(2, 5))
            for r in range(rows + 1):
                draw.line((10, 10 + r * (s - 20) // rows, s - 10, 10 + r * (s - 20) // rows), fill=dark, width=2)
            for c in range(cols + 1):
                draw.line((10 + c * (s - 20) // cols, 10, 10 + c * (s - 20) // cols, s - 10), fill=dark, width=2)
    return np.asarray(img.resize((SIZE, SIZE), Image.Resampling.LANCZOS), dtype=np.uint8)


def ihc_crop(rng: np.random.Generator, held_out: bool) -> np.ndarray:
    """A crop of scikit-image's immunohistochemistry (DAB) sample: training from its top 60%, held-out below."""
    if "ihc" not in _SOURCES:
        _SOURCES["ihc"] = _rgb(skdata.immunohistochemistry())
    source = _SOURCES["ihc"]
    h, w = source.shape[:2]
    y_lo, y_hi = (int(0.6 * h), h) if held_out else (0, int(0.6 * h))
    side = int(rng.integers(64, min(y_hi - y_lo, 180) + 1))
    y, x = int(rng.integers(y_lo, y_hi - side + 1)), int(rng.integers(0, w - side + 1))
    return _resize(source[y:y + side, x:x + side])


def histology(seed: int, rng: np.random.Generator, held_out: bool) -> tuple[np.ndarray, str]:
    """A generated tissue texture (five kinds), an H&E-like section or an IHC crop, with a histology caption."""
    kind = seed % (len(TISSUE_TYPES) + 2)
    template = HISTO_TEMPLATES[int(rng.integers(len(HISTO_TEMPLATES)))]
    if kind == len(TISSUE_TYPES) + 1:
        caption = ("an immunohistochemistry image of tissue with brown DAB stained cells",
                   "an immunohistochemistry image of stained tissue, brown positive nuclei")[int(rng.integers(2))]
        return ihc_crop(rng, held_out), caption
    if kind == len(TISSUE_TYPES):
        return _resize(histology_slide(seed, (2 * SIZE, 2 * SIZE))), template.format(t="connective", a="nuclei",
                                                                                   b="stroma")
    tissue = TISSUE_TYPES[kind]
    a, b = rng.choice(len(tissue.words), 2, replace=False)
    return tissue_image(kind, seed, SIZE), template.format(t=tissue.name, a=tissue.words[a], b=tissue.words[b])


def other(seed: int, rng: np.random.Generator, held_out: bool) -> tuple[np.ndarray, str]:
    """Not histology: a photo crop half the time, else a slide, desktop, diagram or chart."""
    if seed % 2 == 0:
        index = (seed // 2) % len(PHOTOS)
        template = PHOTO_TEMPLATES[int(rng.integers(len(PHOTO_TEMPLATES)))]
        return photo_crop(index, rng, held_out), template.format(PHOTOS[index][2])
    kind = tuple(CAPTIONS)[(seed // 2) % len(CAPTIONS)]
    return drawing(kind, rng), CAPTIONS[kind][int(rng.integers(len(CAPTIONS[kind])))]


def labelled_images(seeds: range, held_out: bool) -> tuple[list[np.ndarray], list[str], np.ndarray]:
    """Images, captions and is-histology labels: even seeds histology, odd seeds not."""
    images, captions, labels = [], [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        image, caption = histology(seed // 2, rng, held_out) if seed % 2 == 0 else other(seed // 2, rng, held_out)
        images.append(image)
        captions.append(caption)
        labels.append(seed % 2 == 0)
    return images, captions, np.array(labels)


def pair_records(store: ObjectStore, seeds: range) -> list[PairRecord]:
    images, captions, labels = labelled_images(seeds, held_out=False)
    records = []
    for seed, image, caption, is_histo in zip(seeds, images, captions, labels, strict=True):
        key = f"pairs/images/{seed:07d}.jpg"
        store.put_bytes(key, encode_jpeg(image), "image/jpeg")
        records.append(PairRecord(
            pair_id=f"mixed-{seed:07d}", video_id=f"gen-{seed // 100}", source="generated", image=key,
            t_start=0.0, t_end=1.0, text=caption, asr_text=caption, histo_score=0.95 if is_histo else 0.05,
            image_id=f"img-{seed:07d}", align_score=0.9, sub_pathology=[],
        ))
    return records


# -- the project's CLIP, trained, promoted and served ----------------------------------------------------------------

@pytest.fixture
def triton(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A test-local Triton (explicit mode, nothing loaded) whose repository holds a copy of `histo_classifier`.

    The server inherits this process's environment, so its histo_classifier reads QUILT_HISTO_MODEL (the
    CLIP zero-shot plugin) and QUILT_CLIP_TRITON_URL (this same server) when it is loaded.
    """
    repository = tmp_path / "repository"
    repository.mkdir()
    shutil.copytree(MODEL_REPOSITORY / "histo_classifier", repository / "histo_classifier",
                    ignore=shutil.ignore_patterns("__pycache__"))
    grpc_port = free_port()
    url = f"127.0.0.1:{grpc_port}"
    monkeypatch.setenv("QUILT_HISTO_MODEL", SPEC)
    monkeypatch.setenv(ENV_URL, url)
    monkeypatch.delenv(ENV_HISTO_PROMPTS, raising=False)
    monkeypatch.delenv(ENV_NONHISTO_PROMPTS, raising=False)
    proc = start_triton(tmp_path / "triton", grpc_port, free_port(), free_port(), model_repository=repository,
                        models=[], ready_timeout_s=120)
    try:
        yield url, repository
    finally:
        stop_triton(proc)


def in_process_probabilities(job: TrainingJob, images: list[np.ndarray]) -> np.ndarray:
    """The filter's math on the training job's own model, with the default prompts (no Triton)."""
    import torch

    model = job.trainer.model
    size = image_size(model)
    image_emb = encode_images(model, torch.stack([image_tensor(im, size) for im in images]), job.device)
    histo = encode_texts(model, job.tokenize, list(HISTO_PROMPTS), job.device)
    other_emb = encode_texts(model, job.tokenize, list(NONHISTO_PROMPTS), job.device)
    return histology_probability(image_emb, histo, other_emb)


@pytest.mark.integration
def test_served_clip_filters_held_out_histology_and_follows_promotions(tmp_path: Path,
                                                                       triton: tuple[str, Path]) -> None:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    url, repository = triton
    started = time.monotonic()
    client = grpcclient.InferenceServerClient(url)

    # Nothing promoted yet: the plugin, in process and as Triton's histo_classifier, says what to do.
    with pytest.raises(HistoModelError, match="promote a checkpoint") as err:
        load_scorer(SPEC)
    assert url in str(err.value) and "no ready 'clip'" in str(err.value)
    with pytest.raises(InferenceServerException, match="promote a checkpoint"):
        client.load_model("histo_classifier")

    store = LocalStore(tmp_path / "bucket")
    write_folder_topic(tmp_path / "topic", pair_records(store, range(5000)))
    images, _, labels = labelled_images(range(1_000_000, 1_000_400), held_out=True)
    raw = tiny_raw(optim={"batch_size": 32, "grad_accum": 1}, stream={"min_histo_score": 0.0, "holdout_percent": 0},
                   schedule={"checkpoint_every_steps": 100_000, "checkpoint_prefix": PREFIX})
    job = TrainingJob(parse_config(raw), FolderPairSource(tmp_path / "topic"), store)

    def checkpoint(steps: int | None) -> tuple[str, float, np.ndarray]:
        job.run(max_steps=steps, stop_when_idle=True, poll_timeout_s=0.0, deadline=time.monotonic() + 120)
        probs = in_process_probabilities(job, images)
        job.metrics = {METRIC: float(np.mean((probs >= 0.5) == labels)), "step": float(job.step)}
        return job.save(), job.metrics[METRIC], probs

    name_a, acc_a, _ = checkpoint(3)
    first = promote(store, PREFIX, name_a, repository, url, metric=METRIC)
    assert first.promoted and first.version == 1 and first.loaded, first
    scorer = load_scorer(SPEC)
    assert scorer.name == "clip-zero-shot-v1"
    trained = time.monotonic()
    name_b, acc_b, probs_b = checkpoint(None)  # the whole topic: about 210 steps
    trained = time.monotonic() - trained
    second = promote(store, PREFIX, name_b, repository, url, metric=METRIC)
    assert second.promoted and second.version == 2, (second, acc_a, acc_b)

    # The same scorer object now scores with version 2, and says so.
    scores = np.array(scorer.score(images))
    assert scorer.name == "clip-zero-shot-v2"
    accuracy = float(np.mean((scores >= 0.5) == labels))
    recall, specificity = float(np.mean(scores[labels] >= 0.5)), float(np.mean(scores[~labels] < 0.5))
    print(f"\nCLIP zero-shot histology filter, {len(images)} held-out images: accuracy {accuracy:.3f} at 0.5 "
          f"(histology {recall:.3f}, other {specificity:.3f}); in process: A (step 3) {acc_a:.3f}, B (step "
          f"{job.step}) {acc_b:.3f}; training B {trained:.1f}s")
    assert accuracy >= 0.85 and recall >= 0.75 and specificity >= 0.75
    # Served and in-process scores agree: Triton runs the promoted weights with the same preprocessing.
    assert float(np.mean((scores >= 0.5) == (probs_b >= 0.5))) >= 0.99
    assert float(np.median(np.abs(scores - probs_b))) < 1e-3

    # The service path: Triton's histo_classifier loads the plugin, which calls the clip model of the same server.
    client.load_model("histo_classifier")
    service = TritonHistoScorer(url)
    subset = list(range(0, len(images), 10))
    served = np.array(service.score([images[i] for i in subset]))
    assert service.name == "clip-zero-shot-v2"
    np.testing.assert_allclose(served, scores[subset], atol=1e-4)
    service.close()
    client.close()
    print(f"integration test {time.monotonic() - started:.1f}s")
