"""Is this frame a histology image? A stain-aware heuristic, pure numpy + scikit-image.

Stand-in for the paper's trained classifier: it looks for what H&E and IHC slides have and
slides of text or photos of people lack (stain colours, few flat white/black areas, soft edges).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from skimage.color import rgb2hed, rgb2hsv

HISTO_MODEL_NAME = "histo-heuristic-v1"
MAX_SIDE = 160  # features are colour statistics; more pixels only cost time

# Hand-set logistic weights; each feature is a fraction or mean in [0, 1].
BIAS = -3.5
WEIGHTS: dict[str, float] = {
    "he_hue_frac": 8.0,  # saturated pink/purple/blue pixels: eosin and haematoxylin
    "ihc_pattern": 12.0,  # brown (DAB) cells on a pale background; brown alone is cats and coffee
    "h_frac": 1.0,  # deconvolved haematoxylin present (nuclei)
    "e_frac": 1.0,  # deconvolved eosin present (cytoplasm, stroma)
    "white_frac": -2.0,  # some empty slide is normal, a text slide is nearly all white
    "black_frac": -6.0,  # text, dark photo backgrounds, letterboxing
    "gray_frac": -6.0,  # mid-grey unstained pixels: grayscale photos, diagrams
    "vivid_frac": -3.0,  # stains are never fully saturated; logos and food photos are
    "edge_density": -10.0,  # one-pixel jumps this large are printed edges, not tissue
    "flat_frac": -12.0,  # flat non-white colour: slide backgrounds (a purple slide is not tissue)
}


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


def histo_features(image: np.ndarray) -> dict[str, float]:
    rgb = _as_rgb_float(image)
    hsv = rgb2hsv(rgb)
    hue, sat, val = hsv[..., 0] * 360.0, hsv[..., 1], hsv[..., 2]
    hed = np.clip(rgb2hed(rgb), 0.0, None)
    h_od, e_od = hed[..., 0], hed[..., 1]

    coloured = (sat > 0.12) & (val > 0.15)
    white = (val > 0.88) & (sat < 0.12)
    black = val < 0.15
    gray = (sat < 0.12) & (val >= 0.15) & (val <= 0.7)
    pale = (val > 0.7) & (sat < 0.2)
    he_hue = coloured & ((hue >= 200.0) | (hue <= 8.0))
    brown = (hue > 8.0) & (hue <= 50.0) & (sat > 0.12) & (sat < 0.65) & (val > 0.3) & (val < 0.85)

    gray_img = rgb.mean(axis=2)
    gy = np.abs(np.diff(gray_img, axis=0))[:, :-1]
    gx = np.abs(np.diff(gray_img, axis=1))[:-1, :]
    step_size = np.maximum(gx, gy)
    edges = step_size > 0.35
    # Tissue is textured at this scale; under one grey level of change means a drawn, flat fill.
    flat = (step_size < 0.004) & ~white[:-1, :-1]

    brown_frac, pale_frac = float(brown.mean()), float(pale.mean())
    return {
        "h_mean": float(h_od.mean()),
        "e_mean": float(e_od.mean()),
        # Dark pixels deconvolve into every stain, so only count reasonably bright ones.
        "h_frac": float(((h_od > 0.015) & (val > 0.25)).mean()),
        "e_frac": float(((e_od > 0.015) & (val > 0.25)).mean()),
        "sat_mean": float(sat.mean()),
        "white_frac": float(white.mean()),
        "black_frac": float(black.mean()),
        "gray_frac": float(gray.mean()),
        "vivid_frac": float((sat > 0.7).mean()),
        "edge_density": float(edges.mean()) if edges.size else 0.0,
        "flat_frac": float(flat.mean()) if flat.size else 0.0,
        "he_hue_frac": float(he_hue.mean()),
        "brown_frac": brown_frac,
        "pale_frac": pale_frac,
        "ihc_pattern": min(brown_frac, pale_frac),
    }


def histo_score(image: np.ndarray) -> float:
    """Probability-like score in [0, 1] that `image` (HxWx3 RGB) shows stained tissue."""
    feats = histo_features(image)
    z = BIAS + sum(w * feats[k] for k, w in WEIGHTS.items())
    return float(1.0 / (1.0 + math.exp(-z)))


class HistoScorer(Protocol):
    name: str

    def score(self, images: list[np.ndarray]) -> list[float]: ...


class LocalHistoScorer:
    name = HISTO_MODEL_NAME

    def score(self, images: list[np.ndarray]) -> list[float]:
        return [histo_score(im) for im in images]


class TritonHistoScorer:
    """Same scores, computed by `triton_models/histo_classifier` (one request per image)."""

    name = HISTO_MODEL_NAME

    def __init__(self, url: str, model: str = "histo_classifier", timeout_s: float = 30.0) -> None:
        import tritonclient.grpc as grpcclient

        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url)

    def score(self, images: list[np.ndarray]) -> list[float]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        from quilt.stages.asr import ModelUnavailable

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
        return scores

    def close(self) -> None:
        self._client.close()
