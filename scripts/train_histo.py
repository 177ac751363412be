"""Train the histology classifier: stain-aware features -> L2 logistic regression -> Platt scaling.

    .venv/bin/python scripts/train_histo.py                      # rewrite quilt/data/histo_model.json
    .venv/bin/python scripts/train_histo.py --positives DIR --negatives DIR --out my_model.json

Without folders it trains on quilt/testing/tissue_set.py: generated tissue and real non-histology
images, split by seed ranges into train (the fit), calibration (Platt scaling) and held-out
(the metrics written into the file, never used for fitting). With folders, the files of each
class are shuffled by --seed and split 60/20/20 the same way. The output depends only on the
arguments: the same seed gives byte-identical JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a file: make the checkout's quilt/ importable
    sys.path.insert(0, str(REPO_ROOT))

from quilt.stages.histo.model import EMBEDDED_MODEL_PATH, LogisticModel, binary_metrics, sigmoid  # noqa: E402
from quilt.stages.histo.scorers import FEATURE_NAMES, HISTO_MODEL_NAME, histo_features  # noqa: E402

DEFAULT_COUNTS = {"train": 240, "calibration": 120, "heldout": 160}  # images per class
DEFAULT_L2 = 1.0  # on standardised terms; the generated classes are nearly separable, so keep weights small
# DAB-brown frames get their own linear regime: brown fur, wood and coffee share DAB's colour and
# texture statistics, and one set of weights for H&E and IHC alike cannot keep them apart.
DEFAULT_GATE = "brown_frac"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
DIGITS = 6  # significant digits kept in the file: stable text, and far below what changes a decision


@dataclass
class Split:
    features: np.ndarray  # (n, len(FEATURE_NAMES))
    labels: np.ndarray  # (n,) 0/1
    kinds: list[str]
    groups: list[str]  # what the fit balances over: a kind of picture, or one real image


def balanced_weights(labels: np.ndarray, groups: list[str]) -> np.ndarray:
    """Every group of a class weighs the same, both classes weigh the same; mean weight 1.

    A kind that is easy and plentiful (text slides) would otherwise outvote a rare hard one
    (a brown tabby cat, which shares colours with DAB).
    """
    weights = np.zeros(labels.size)
    for label in (0, 1):
        in_class = [g for g, y in zip(groups, labels, strict=True) if y == label]
        names = sorted(set(in_class))
        for name in names:
            mask = np.array([g == name and y == label for g, y in zip(groups, labels, strict=True)])
            weights[mask] = 1.0 / (len(names) * mask.sum())
    return weights / weights.mean()


def featurise(items: Iterable[tuple[np.ndarray, int, str, str]]) -> Split:
    rows, labels, kinds, groups = [], [], [], []
    for image, label, kind, group in items:
        feats = histo_features(image)
        rows.append([feats[name] for name in FEATURE_NAMES])
        labels.append(label)
        kinds.append(kind)
        groups.append(group)
    return Split(np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES)),
                 np.array(labels, dtype=np.float64), kinds, groups)


def generated_splits(seed: int, counts: dict[str, int]) -> dict[str, Split]:
    from quilt.testing.tissue_set import labelled_set

    return {split: featurise((item.image, item.label, item.kind, item.group)
                             for item in labelled_set(split, n, offset=seed))
            for split, n in counts.items()}


def _read_image(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def folder_splits(positives: Path, negatives: Path, seed: int) -> dict[str, Split]:
    """Each folder's images (recursively), shuffled by seed, 60% train, 20% calibration, 20% held-out."""
    parts: dict[str, list[tuple[Path, int]]] = {"train": [], "calibration": [], "heldout": []}
    for folder, label in ((positives, 1), (negatives, 0)):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < 5:
            raise SystemExit(f"{folder}: need at least 5 images, found {len(files)}")
        order = np.random.default_rng(seed + label).permutation(len(files))
        n_train, n_cal = int(len(files) * 0.6), int(len(files) * 0.2)
        for rank, index in enumerate(order):
            split = "train" if rank < n_train else "calibration" if rank < n_train + n_cal else "heldout"
            parts[split].append((files[index], label))
    names = {1: "positive", 0: "negative"}  # kind and group: a folder is one kind of picture
    return {split: featurise((_read_image(path), label, names[label], names[label]) for path, label in items)
            for split, items in parts.items()}


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, weights: np.ndarray | None = None,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """Newton's method (IRLS) on weighted mean log loss + l2/2n * |w|^2; the bias is not penalised."""
    n, d = x.shape
    sample_w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    design = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2 / n)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = sigmoid(design @ theta)
        grad = design.T @ (sample_w * (p - y)) / n + penalty * theta
        hessian = (design.T * (sample_w * p * (1 - p))) @ design / n + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return theta[:-1], float(theta[-1])


def fit_platt(logits: np.ndarray, y: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """Platt scaling: sigmoid(a * logit + b) fitted with Platt's smoothed targets, so a stays finite."""
    n_pos, n_neg = float(y.sum()), float((1 - y).sum())
    targets = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    design = np.stack([logits, np.ones_like(logits)], axis=1)
    theta = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = sigmoid(design @ theta)
        grad = design.T @ (p - targets)
        hessian = (design.T * (p * (1 - p))) @ design + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-12:
            break
    return float(theta[0]), float(theta[1])


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def _rounded(values: np.ndarray) -> np.ndarray:
    return np.array([_round(float(v)) for v in values])


def _metrics(model: LogisticModel, split: Split) -> dict[str, float]:
    return {k: (_round(v) if isinstance(v, float) else v)
            for k, v in binary_metrics(split.labels, model.predict(split.features), model.threshold).items()}


def model_terms(gate: str | None) -> tuple[str, ...]:
    """Every feature, and with a gate every other feature times the gate as well."""
    if gate is None:
        return FEATURE_NAMES
    if gate not in FEATURE_NAMES:
        raise SystemExit(f"--gate {gate!r}: not a feature; choose from {', '.join(FEATURE_NAMES)}")
    return FEATURE_NAMES + tuple(f"{gate}*{name}" for name in FEATURE_NAMES if name != gate)


def train(splits: dict[str, Split], *, name: str, seed: int, l2: float, source: str,
          gate: str | None = DEFAULT_GATE) -> LogisticModel:
    train_split = splits["train"]
    model = LogisticModel(name=name, feature_names=FEATURE_NAMES, terms=model_terms(gate),
                          mean=np.zeros(0), std=np.zeros(0), weights=np.zeros(0), bias=0.0)
    design = model.design(train_split.features)
    std = design.std(axis=0)
    model.mean = _rounded(design.mean(axis=0))
    model.std = _rounded(np.where(std > 1e-6, std, 1.0))  # a constant term: leave it unscaled, its weight goes to 0
    weights, bias = fit_logistic((design - model.mean) / model.std, train_split.labels, l2,
                                 balanced_weights(train_split.labels, train_split.groups))
    model.weights, model.bias = _rounded(weights), _round(bias)
    a, b = fit_platt(model.logit(splits["calibration"].features), splits["calibration"].labels)
    model.platt_a, model.platt_b = _round(a), _round(b)
    heldout = splits["heldout"]
    probs = model.predict(heldout.features)
    by_kind = {}
    for kind in sorted(set(heldout.kinds)):
        mask = np.array([k == kind for k in heldout.kinds])
        correct = (probs[mask] >= model.threshold) == (heldout.labels[mask] == 1)
        by_kind[kind] = _round(float(correct.mean()))
    model.info = {
        "trained_by": "scripts/train_histo.py",
        "training_data": source,
        "seed": seed,
        "l2": l2,
        "gate": gate,
        "split_sizes": {split: int(s.labels.size) for split, s in splits.items()},
        "heldout_metrics": _metrics(model, heldout),
        "heldout_accuracy_by_kind": by_kind,
        "calibration_metrics": _metrics(model, splits["calibration"]),
    }
    return model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the histology classifier and write its JSON model.")
    parser.add_argument("--out", type=Path, default=EMBEDDED_MODEL_PATH,
                        help=f"where the model goes (default {EMBEDDED_MODEL_PATH.relative_to(REPO_ROOT)})")
    parser.add_argument("--seed", type=int, default=0, help="shifts every generated image; shuffles folders")
    parser.add_argument("--positives", type=Path, help="folder of histology images (then --negatives too)")
    parser.add_argument("--negatives", type=Path, help="folder of non-histology images")
    parser.add_argument("--name", help=f"model name recorded with each pair (default {HISTO_MODEL_NAME}, or "
                                       "histo-logreg-<out file stem> for folder-trained models)")
    parser.add_argument("--l2", type=float, default=DEFAULT_L2, help=f"L2 penalty (default {DEFAULT_L2})")
    parser.add_argument("--gate", default=DEFAULT_GATE,
                        help=f"add every feature times this one as terms (default {DEFAULT_GATE}; 'none': linear only)")
    for split, n in DEFAULT_COUNTS.items():
        parser.add_argument(f"--{split}", type=int, default=n, metavar="N",
                            help=f"generated images per class in the {split} split (default {n})")
    args = parser.parse_args(argv)
    if (args.positives is None) != (args.negatives is None):
        parser.error("--positives and --negatives go together")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.positives is not None:
        splits = folder_splits(args.positives, args.negatives, args.seed)
        source = "folders"
        name = args.name or f"histo-logreg-{args.out.stem}"
    else:
        counts = {split: getattr(args, split) for split in DEFAULT_COUNTS}
        splits = generated_splits(args.seed, counts)
        source = "quilt/testing/tissue_set.py"
        name = args.name or HISTO_MODEL_NAME
    gate = None if args.gate.lower() == "none" else args.gate
    model = train(splits, name=name, seed=args.seed, l2=args.l2, source=source, gate=gate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(model.dumps())
    m = model.info["heldout_metrics"]
    print(f"{args.out}: held-out accuracy={m['accuracy']:.3f} auc={m['auc']:.3f} brier={m['brier']:.4f} "
          f"ece={m['ece']:.4f} n={m['n']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
