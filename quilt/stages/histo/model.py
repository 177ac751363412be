"""The histology classifier's model file: a standardised, L2-regularised logistic regression
with Platt calibration, stored as a few KB of JSON (`quilt/data/histo_model.json`).

Only numbers live here; which features the numbers apply to, and how images become
features, is quilt.stages.histo.scorers's business. `scripts/train_histo.py` writes these files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDED_MODEL_PATH = Path(__file__).resolve().parents[2] / "data" / "histo_model.json"
FORMAT = "quilt-histo-logreg/1"


class HistoModelError(ValueError):
    """A histology model spec or file that cannot be used; the message names it."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    # Split by sign so neither branch overflows.
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def parse_terms(terms: list[str] | tuple[str, ...], source: str = "model") -> list[tuple[str, ...]]:
    """Each term is a feature name or a product "a*b" of two: returns the factor names of each."""
    parsed = []
    for term in terms:
        factors = tuple(part.strip() for part in str(term).split("*"))
        if not 1 <= len(factors) <= 2 or not all(factors):
            raise HistoModelError(f"{source}: bad term {term!r}; expected 'name' or 'name*name'")
        parsed.append(factors)
    return parsed


@dataclass
class LogisticModel:
    """p = sigmoid(platt_a * (w . standardised(terms(features)) + bias) + platt_b).

    A term is a feature or the product of two: a product with a gate feature (brown_frac, say)
    lets the linear model weigh evidence differently in one stain regime (DAB) than in the rest.
    """

    name: str
    feature_names: tuple[str, ...]  # the features the terms are made of, in input column order
    terms: tuple[str, ...]
    mean: np.ndarray  # per term, from the training split
    std: np.ndarray
    weights: np.ndarray  # on standardised terms
    bias: float
    platt_a: float = 1.0  # calibrated probability = sigmoid(platt_a * logit + platt_b)
    platt_b: float = 0.0
    threshold: float = 0.5  # the decision threshold the metrics were measured at
    info: dict[str, Any] = field(default_factory=dict)  # seed, split sizes, held-out metrics, ...

    def __post_init__(self) -> None:
        index = {name: i for i, name in enumerate(self.feature_names)}
        missing = sorted({f for term in parse_terms(self.terms, self.name) for f in term} - set(index))
        if missing:
            raise HistoModelError(f"model {self.name!r}: terms use features it does not list: {', '.join(missing)}")
        self._columns = [tuple(index[f] for f in term) for term in parse_terms(self.terms, self.name)]

    def design(self, features: np.ndarray) -> np.ndarray:
        """The term matrix of a feature matrix (columns in feature_names order)."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        return np.stack([x[:, cols[0]] if len(cols) == 1 else x[:, cols[0]] * x[:, cols[1]]
                         for cols in self._columns], axis=1)

    def logit(self, features: np.ndarray) -> np.ndarray:
        return (self.design(features) - self.mean) / self.std @ self.weights + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of histology, one per row of `features`."""
        return sigmoid(self.platt_a * self.logit(features) + self.platt_b)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "features": list(self.feature_names),
            "terms": list(self.terms),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "weights": [float(v) for v in self.weights],
            "bias": float(self.bias),
            "calibration": {"method": "platt", "a": float(self.platt_a), "b": float(self.platt_b)},
            "threshold": float(self.threshold),
            **self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model") -> LogisticModel:
        if data.get("format") != FORMAT:
            raise HistoModelError(f"{source}: not a {FORMAT} model (format={data.get('format')!r})")
        try:
            names = tuple(str(n) for n in data["features"])
            terms = tuple(str(t) for t in data.get("terms", names))
            arrays = [np.asarray(data[key], dtype=np.float64) for key in ("mean", "std", "weights")]
            calibration = data["calibration"]
            if any(a.shape != (len(terms),) for a in arrays) or not np.all(arrays[1] > 0):
                raise ValueError("mean, std and weights need one value per term, and std > 0")
            model = cls(name=str(data["name"]), feature_names=names, terms=terms, mean=arrays[0], std=arrays[1],
                        weights=arrays[2], bias=float(data["bias"]), platt_a=float(calibration["a"]),
                        platt_b=float(calibration["b"]), threshold=float(data.get("threshold", 0.5)))
        except HistoModelError as exc:
            raise HistoModelError(f"{source}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise HistoModelError(f"{source}: malformed model: {exc!r}") from exc
        known = {"format", "name", "features", "terms", "mean", "std", "weights", "bias", "calibration", "threshold"}
        model.info = {k: v for k, v in data.items() if k not in known}
        return model

    @classmethod
    def load(cls, path: Path) -> LogisticModel:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise HistoModelError(f"histo model {str(path)!r}: cannot read: {exc}") from exc
        return cls.from_dict(data, source=f"histo model {str(path)!r}")

    def dumps(self) -> str:
        """Stable JSON text: the same model always gives the same bytes."""
        return json.dumps(self.to_dict(), indent=1) + "\n"


def binary_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5, bins: int = 10) -> dict[str, float]:
    """Accuracy at `threshold`, ROC AUC, Brier score and expected calibration error (equal-width bins)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.size == 0:
        raise ValueError("no examples to measure")
    accuracy = float(((p >= threshold) == (y == 1)).mean())
    brier = float(((p - y) ** 2).mean())
    which = np.minimum((p * bins).astype(int), bins - 1)
    ece = sum(abs(float(y[which == b].mean() - p[which == b].mean())) * float((which == b).mean())
              for b in range(bins) if (which == b).any())
    return {"accuracy": accuracy, "auc": roc_auc(y, p), "brier": brier, "ece": float(ece), "n": int(y.size)}


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    y = np.asarray(labels) == 1
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # Average rank over runs of equal scores.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
