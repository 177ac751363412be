"""Is this frame a histology image? Stain-aware features scored by a small trained model.

The features describe what stained tissue has and lecture slides, photos and screens lack:
haematoxylin / eosin / DAB seen by colour deconvolution, stain hues at moderate saturation,
soft isotropic texture everywhere instead of flat fills, few axis-aligned printed edges and
no small palette of exact colours. `scripts/train_histo.py` fits a logistic regression on them
and writes `quilt/data/histo_model.json`, the embedded default; `load_scorer` also takes a
user's JSON model or a `module:factory` plugin (a convnet, say) that returns a `HistoScorer`.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter
from skimage.color import rgb2hed

from quilt.stages.histo.model import EMBEDDED_MODEL_PATH, HistoModelError, LogisticModel

HISTO_MODEL_NAME = "histo-logreg-v2"  # the embedded model's name, recorded in each pair's `models`
EMBEDDED_SPEC = "embedded"
# Plugins that moved: a setting written for the old name keeps working.
RENAMED_PLUGINS = {"quilt.stages.histo_clip:served_clip": "quilt.adapters.served_clip:served_clip"}
MAX_SIDE = 160  # features are colour and texture statistics; more pixels only cost time

FEATURE_NAMES = (
    # stains, by colour deconvolution and by hue
    "h_mean", "e_mean", "d_mean", "h_frac", "e_frac", "h_spread", "he_hue_frac", "brown_frac", "blue_frac",
    "pale_frac", "ihc_pattern", "brown_blue", "brown_no_blue",
    # saturation and the empty, dark and grey parts of the frame
    "sat_mean", "sat_spread", "white_frac", "black_frac", "gray_frac", "vivid_frac",
    # Beer-Lambert: how colours vary where there is more stain
    "stain_rank2", "od_axis_angle", "stain_darkening",
    # texture, and what drawn graphics have: hard edges, flat fills, axis-aligned strokes, few colours, text
    "edge_density", "flat_frac", "textured_frac", "axis_alignment", "coherence", "palette_frac", "text_density",
)


def _as_rgb_float(image: np.ndarray) -> np.ndarray:
    """HxWx3 float32 in [0, 1], block-averaged down to at most ~MAX_SIDE pixels a side."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] < 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected HxWx3 image, got shape {arr.shape}")
    arr = arr[..., :3]
    scale = 255.0 if np.issubdtype(arr.dtype, np.integer) else 1.0
    f = -(-max(arr.shape[:2]) // MAX_SIDE)  # ceil division
    if f > 1:
        # Subsample, then a 2x2 block mean: deterministic, cheap on 1080p frames, and smooth
        # enough for colour statistics.
        step = max(1, f // 2)
        arr = arr[::step, ::step].astype(np.float32)
        b = f // step
        h, w = arr.shape[0] // b * b, arr.shape[1] // b * b
        if b > 1 and h and w:
            arr = arr[:h, :w].reshape(h // b, b, w // b, b, 3).mean(axis=(1, 3))
    return np.clip(arr.astype(np.float32) / scale, 0.0, 1.0)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees, saturation and value; a few times faster than skimage's rgb2hsv."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    val = rgb.max(axis=2)
    chroma = val - rgb.min(axis=2)
    sat = np.where(val > 0, chroma / np.maximum(val, 1e-6), 0.0)
    c = np.maximum(chroma, 1e-6)
    hue = np.where(val == r, ((g - b) / c) % 6.0, np.where(val == g, (b - r) / c + 2.0, (r - g) / c + 4.0))
    return np.where(chroma > 0, hue * 60.0, 0.0), sat, val


def _mean(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _texture(gray: np.ndarray, white: np.ndarray) -> dict[str, float]:
    if min(gray.shape) < 4:  # a thumbnail of a few pixels: pad so every statistic is defined
        pad = [(0, max(0, 4 - n)) for n in gray.shape]
        gray, white = np.pad(gray, pad, mode="edge"), np.pad(white, pad, mode="edge")
    gy = np.abs(np.diff(gray, axis=0))[:, :-1]
    gx = np.abs(np.diff(gray, axis=1))[:-1, :]
    step_size = np.maximum(gx, gy)
    # Tissue is textured at this scale; under one grey level of change means a drawn, flat fill.
    flat = (step_size < 0.004) & ~white[:-1, :-1]
    # Signed central differences for orientation: printed text, tables and UI are made of
    # horizontal and vertical strokes; tissue edges point every way.
    sy, sx = np.gradient(gray)
    sxx, syy, sxy = sx * sx, sy * sy, sx * sy
    energy = sxx + syy
    total = float(energy.sum())
    axis = float((((sxx - syy) ** 2) / np.maximum(energy, 1e-12)).sum() / total) if total > 1e-9 else 0.5
    jxx, jyy, jxy = gaussian_filter(sxx, 2.0), gaussian_filter(syy, 2.0), gaussian_filter(sxy, 2.0)
    jsum = jxx + jyy
    coherence = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy**2) / np.maximum(jsum, 1e-12)
    coh = float((coherence * jsum).sum() / jsum.sum()) if float(jsum.sum()) > 1e-9 else 0.0
    local_mean = uniform_filter(gray, 5)
    local_std = np.sqrt(np.maximum(uniform_filter(gray * gray, 5) - local_mean**2, 0.0))
    # Sharp dark-on-light strokes in 4x4 blocks: letters and line art, rarely tissue.
    h4, w4 = gray.shape[0] // 4 * 4, gray.shape[1] // 4 * 4
    blocks = gray[:h4, :w4].reshape(h4 // 4, 4, w4 // 4, 4)
    spread = blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))
    return {
        "edge_density": _mean(step_size > 0.35),
        "flat_frac": _mean(flat),
        "textured_frac": _mean((local_std > 0.015) & (local_std < 0.15)),
        "axis_alignment": axis,
        "coherence": coh,
        "text_density": _mean(spread > 0.5),
    }


def _palette_frac(rgb: np.ndarray) -> float:
    """Share of pixels in the 8 commonest colours (4 bits a channel): high for drawn graphics."""
    q = (rgb * 15.999).astype(np.int32)
    codes = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096)
    return float(np.sort(counts)[-8:].sum() / max(codes.size, 1))


def _optical_density_shape(rgb: np.ndarray) -> tuple[float, float]:
    """Two Beer-Lambert checks on the optical density (OD) of the non-white pixels.

    stain_rank2: a stained pixel's OD is a sum of two stains' vectors (H&E, or H and DAB), so
    tissue colours vary in two dimensions; a photo's in three, a grey image's in one. Near 1
    when the third dimension is ~1e-4 of the second, 0 for three (or only one) dimensions.
    od_axis_angle: more stain darkens along the stain's own OD vector, 20-45 degrees off grey;
    a photo darkens by shading, which moves OD along the grey axis. The angle between the main
    direction of OD variation and the grey axis, as a fraction of 45 degrees.
    """
    od = -np.log(np.maximum(rgb, 1.0 / 255.0)).reshape(-1, 3)
    od = od[od.sum(axis=1) > 0.2]
    if od.shape[0] < 16:
        return 0.0, 0.0
    ev, vectors = np.linalg.eigh(np.cov(od.T))  # ascending
    main = vectors[:, 2]
    angle = float(np.degrees(np.arccos(min(1.0, abs(float(main.sum())) / np.sqrt(3.0)))))
    axis_angle = min(angle / 45.0, 1.0) if ev[2] > 1e-6 else 0.0
    if ev[1] < 1e-6:  # grey or flat: not two stains
        return 0.0, axis_angle
    ratio = max(float(ev[0]) / float(ev[1]), 1e-4)
    return float(np.clip(-np.log10(ratio) / 4.0, 0.0, 1.0)), axis_angle


def _stain_darkening(val: np.ndarray, chroma: np.ndarray, white: np.ndarray) -> float:
    """-corr(brightness, chroma) over the non-white pixels, in [-1, 1].

    Where there is more stain a pixel is both darker and more colourful; in a photo shading
    darkens a surface and dulls its colour with it, so the correlation has the other sign.
    """
    v, c = val[~white], chroma[~white]
    if v.size < 16 or float(v.std()) < 1e-4 or float(c.std()) < 1e-4:
        return 0.0
    return float(-np.corrcoef(v, c)[0, 1])


def histo_features(image: np.ndarray) -> dict[str, float]:
    """The named features of FEATURE_NAMES, each a fraction, mean or ratio of about [0, 1]."""
    rgb = _as_rgb_float(image)
    hue, sat, val = _hsv(rgb)
    hed = np.clip(rgb2hed(rgb), 0.0, None)
    h_od, e_od, d_od = hed[..., 0], hed[..., 1], hed[..., 2]

    coloured = (sat > 0.12) & (val > 0.15)
    white = (val > 0.88) & (sat < 0.12)
    pale = (val > 0.7) & (sat < 0.2)
    he_hue = coloured & ((hue >= 200.0) | (hue <= 8.0))
    brown = (hue > 8.0) & (hue <= 50.0) & (sat > 0.12) & (sat < 0.65) & (val > 0.3) & (val < 0.85)
    # Haematoxylin counterstain: blue to neutral grey-lilac. An IHC slide is brown cells among
    # such nuclei; a brown photo (a cat, wood, coffee) is brown and warm greys, nothing cool.
    blue = (((hue >= 180.0) & (hue <= 300.0)) | (sat < 0.12)) & (val > 0.3) & (val < 0.85)
    stained = ~white & (val > 0.25)  # dark pixels deconvolve into every stain, so only count bright ones
    brown_frac, pale_frac, blue_frac = _mean(brown), _mean(pale), _mean(blue)
    feats = {
        "h_mean": float(h_od.mean()),
        "e_mean": float(e_od.mean()),
        "d_mean": float(d_od.mean()),
        "h_frac": _mean((h_od > 0.015) & (val > 0.25)),
        "e_frac": _mean((e_od > 0.015) & (val > 0.25)),
        "h_spread": float(h_od[stained].std()) if stained.any() else 0.0,  # nuclei against stroma
        "he_hue_frac": _mean(he_hue),
        "brown_frac": brown_frac,
        "blue_frac": blue_frac,
        "pale_frac": pale_frac,
        "ihc_pattern": min(brown_frac, pale_frac),  # brown cells on a pale background; brown alone is coffee
        "brown_blue": float(np.sqrt(brown_frac * blue_frac)),
        # DAB is seen against a counterstain; brown with no blue anywhere in the frame is not IHC.
        "brown_no_blue": brown_frac * float(np.exp(-blue_frac / 0.01)),
        "sat_mean": float(sat.mean()),
        "sat_spread": float(sat.std()),
        "white_frac": _mean(white),
        "black_frac": _mean(val < 0.15),
        "gray_frac": _mean((sat < 0.12) & (val >= 0.15) & (val <= 0.7)),
        "vivid_frac": _mean(sat > 0.7),  # stains are never fully saturated; logos and food photos are
        "palette_frac": _palette_frac(rgb),
    }
    feats["stain_rank2"], feats["od_axis_angle"] = _optical_density_shape(rgb)
    feats["stain_darkening"] = _stain_darkening(val, sat * val, white)
    feats.update(_texture(rgb.mean(axis=2), white))
    return {name: feats[name] for name in FEATURE_NAMES}


def histo_feature_matrix(images: list[np.ndarray], names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    """One row of features per image, in the order of `names`."""
    rows = [histo_features(image) for image in images]
    return np.array([[row[name] for name in names] for row in rows], dtype=np.float64).reshape(len(rows), len(names))


@runtime_checkable
class HistoScorer(Protocol):
    name: str

    def score(self, images: list[np.ndarray]) -> list[float]: ...


class ModelHistoScorer:
    """A LogisticModel over histo_features: the embedded model, or one a user trained."""

    def __init__(self, model: LogisticModel) -> None:
        unknown = [n for n in model.feature_names if n not in FEATURE_NAMES]
        if unknown:
            raise HistoModelError(f"model {model.name!r} uses features this version lacks: {', '.join(unknown)}")
        self.model = model
        self.name = model.name
        self.threshold = model.threshold

    def score(self, images: list[np.ndarray]) -> list[float]:
        if not images:
            return []
        return [float(p) for p in self.model.predict(histo_feature_matrix(images, self.model.feature_names))]


@functools.lru_cache(maxsize=8)
def _load_json(path: str) -> ModelHistoScorer:
    return ModelHistoScorer(LogisticModel.load(Path(path)))


def _load_plugin(spec: str) -> HistoScorer:
    module_name, _, factory_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HistoModelError(f"histo model {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise HistoModelError(f"histo model {spec!r}: {module_name} has no callable {factory_name!r}")
    scorer = factory()
    if not isinstance(scorer, HistoScorer) or not isinstance(getattr(scorer, "name", None), str):
        raise HistoModelError(f"histo model {spec!r}: the factory returned {type(scorer).__name__}, "
                              "not a HistoScorer (a `name` string and a `score(images) -> list[float]` method)")
    return scorer


def load_scorer(spec: str = EMBEDDED_SPEC) -> HistoScorer:
    """The scorer a `histo_model` setting names.

    "embedded" (or empty): the committed quilt/data/histo_model.json. A path ending in .json: a
    model written by `scripts/train_histo.py`. "package.module:factory": a Python callable,
    called without arguments, that returns a HistoScorer.
    """
    spec = RENAMED_PLUGINS.get(spec.strip(), spec.strip())
    if spec in ("", EMBEDDED_SPEC):
        return _load_json(str(EMBEDDED_MODEL_PATH))
    if spec.endswith(".json") or Path(spec).is_file():
        path = Path(spec).expanduser()
        if not path.is_file():
            raise HistoModelError(f"histo model {spec!r}: no such file")
        return _load_json(str(path.resolve()))
    module_name, sep, factory_name = spec.partition(":")
    if sep and module_name and factory_name.isidentifier():
        return _load_plugin(spec)
    raise HistoModelError(f"histo model {spec!r}: expected 'embedded', a path to a .json model "
                          "or 'package.module:factory'")


def histo_score(image: np.ndarray) -> float:
    """Calibrated probability, by the embedded model, that `image` (HxWx3 RGB) shows stained tissue."""
    return load_scorer(EMBEDDED_SPEC).score([image])[0]


class LocalHistoScorer:
    """In-process scoring with the model a spec names (see load_scorer): the embedded one by default."""

    def __init__(self, spec: str = EMBEDDED_SPEC) -> None:
        self._scorer = load_scorer(spec)
        self.name = self._scorer.name

    def score(self, images: list[np.ndarray]) -> list[float]:
        scores = self._scorer.score(images)
        self.name = self._scorer.name  # a plugin's name can change (a newly promoted CLIP version)
        return scores


class TritonHistoScorer:
    """Scores computed by `triton_models/histo_classifier` (one request per image).

    The served model is whichever QUILT_HISTO_MODEL names on the Triton host; its name comes back
    with each score, so `name` is what actually scored once `score` has run.
    """

    def __init__(self, url: str, model: str = "histo_classifier", timeout_s: float = 30.0,
                 name: str = HISTO_MODEL_NAME) -> None:
        import tritonclient.grpc as grpcclient

        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self.name = name
        self._client = grpcclient.InferenceServerClient(url)

    def score(self, images: list[np.ndarray]) -> list[float]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        from quilt.core.types import ModelUnavailable

        scores: list[float] = []
        for image in images:
            arr = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
            if arr.ndim == 2:
                arr = np.ascontiguousarray(np.stack([arr] * 3, axis=-1))
            arr = np.ascontiguousarray(arr[..., :3])
            inp = grpcclient.InferInput("IMAGE_RGB", list(arr.shape), "UINT8")
            inp.set_data_from_numpy(arr)
            try:
                res = self._client.infer(self.model, [inp], client_timeout=self.timeout_s)
            except InferenceServerException as exc:
                raise ModelUnavailable(f"Triton model {self.model!r} at {self.url} failed: {exc}") from exc
            out = res.as_numpy("HISTO_SCORE")
            if out is None:
                raise ModelUnavailable(f"Triton model {self.model!r} returned no HISTO_SCORE")
            scores.append(float(out.reshape(-1)[0]))
            served = res.as_numpy("MODEL_NAME")
            if served is not None and served.size:
                value = served.reshape(-1)[0]
                self.name = value.decode() if isinstance(value, bytes) else str(value)
        return scores

    def close(self) -> None:
        self._client.close()
