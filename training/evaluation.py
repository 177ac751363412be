"""Zero-shot classification and image<->text retrieval, from embeddings (pure numpy) or from a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

PROMPTS = ("a histopathology image of {} tissue", "{} tissue", "an image of {}")


@dataclass(frozen=True)
class EvalExample:
    image: torch.Tensor  # model input, CHW
    text: str  # its caption, for retrieval; empty = classification only
    label: str  # class name; empty = retrieval only


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def zero_shot_accuracy(image_emb: np.ndarray, class_emb: np.ndarray, labels: Sequence[int]) -> float:
    """Share of images whose most similar class embedding is their own class."""
    if len(labels) == 0:
        return float("nan")
    predicted = (_normalise(image_emb) @ _normalise(class_emb).T).argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def retrieval_recall(image_emb: np.ndarray, text_emb: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Row i of each matrix is one pair: recall@k of the true partner, image->text and text->image."""
    sims = _normalise(image_emb) @ _normalise(text_emb).T
    out = {}
    for direction, matrix in (("image_to_text", sims), ("text_to_image", sims.T)):
        # rank of the true partner = how many candidates score strictly higher
        true = np.diag(matrix)[:, None]
        ranks = (matrix > true).sum(axis=1)
        for k in ks:
            out[f"{direction}_r@{k}"] = float(np.mean(ranks < k))
    return out


@torch.no_grad()
def encode_images(model: torch.nn.Module, images: torch.Tensor, device: torch.device, batch: int = 256
                  ) -> np.ndarray:
    model.eval()
    parts = [model.encode_image(images[i:i + batch].to(device)).float().cpu()  # type: ignore[operator]
             for i in range(0, len(images), batch)]
    return torch.cat(parts).numpy()


@torch.no_grad()
def encode_texts(model: torch.nn.Module, tokenizer: object, texts: Sequence[str], device: torch.device,
                 batch: int = 256) -> np.ndarray:
    model.eval()
    parts = []
    for i in range(0, len(texts), batch):
        tokens = tokenizer(list(texts[i:i + batch]))  # type: ignore[operator]
        parts.append(model.encode_text(tokens.to(device)).float().cpu())  # type: ignore[operator]
    return torch.cat(parts).numpy()


def class_embeddings(model: torch.nn.Module, tokenizer: object, classes: Sequence[str], device: torch.device
                     ) -> np.ndarray:
    """One embedding per class: the mean of its normalised prompt embeddings (CLIP's prompt ensembling)."""
    per_prompt = [_normalise(encode_texts(model, tokenizer, [p.format(c) for c in classes], device)) for p in PROMPTS]
    return _normalise(np.mean(per_prompt, axis=0))


def evaluate(model: torch.nn.Module, tokenizer: object, examples: Sequence[EvalExample], device: torch.device,
             classes: Sequence[str] | None = None) -> dict[str, float]:
    """zero_shot_acc over examples with a label in `classes` (all labels seen when None), retrieval over captioned."""
    if not examples:
        return {}
    image_emb = encode_images(model, torch.stack([e.image for e in examples]), device)
    metrics: dict[str, float] = {}
    class_list = sorted({e.label for e in examples if e.label}) if classes is None else list(classes)
    labelled = [i for i, e in enumerate(examples) if e.label in class_list]
    if class_list and labelled:
        emb = class_embeddings(model, tokenizer, class_list, device)
        labels = [class_list.index(examples[i].label) for i in labelled]
        metrics["zero_shot_acc"] = zero_shot_accuracy(image_emb[labelled], emb, labels)
        metrics["zero_shot_chance"] = 1.0 / len(class_list)
    captioned = [i for i, e in enumerate(examples) if e.text]
    if len(captioned) >= 2:
        text_emb = encode_texts(model, tokenizer, [examples[i].text for i in captioned], device)
        metrics.update(retrieval_recall(image_emb[captioned], text_emb))
    return metrics
