"""Building the open_clip model from the config, and turning bucket JPEGs and captions into tensors."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import open_clip  # type: ignore[import-untyped]
import torch
from PIL import Image

from quilt.adapters.store import ObjectStore
from quilt.core.imaging import decode_jpeg

from .config import ModelConfig

# open_clip's OpenAI normalisation; every CLIP we start from was trained with it.
MEAN = np.array(open_clip.OPENAI_DATASET_MEAN, np.float32)
STD = np.array(open_clip.OPENAI_DATASET_STD, np.float32)
TOKENIZER_ARCH = "ViT-B-32"  # the CLIP BPE tokenizer ships inside open_clip: nothing is downloaded


class ModelError(RuntimeError):
    pass


def build_model(config: ModelConfig) -> torch.nn.Module:
    """A custom CLIP from [model.vision]/[model.text], or a named open_clip architecture with its weights."""
    if not config.name:
        model: torch.nn.Module = open_clip.CLIP(embed_dim=config.embed_dim, vision_cfg=dict(config.vision),
                                                text_cfg=dict(config.text))
        if config.pretrained:
            _load_local(model, Path(config.pretrained))
    else:
        pretrained = config.pretrained
        if pretrained and not Path(pretrained).is_file() and not config.allow_download:
            raise ModelError(f"pretrained={pretrained!r} is no local file; fetching a tag or hub id needs "
                             "allow_download = true in [model]")
        model = open_clip.create_model(config.name, pretrained=pretrained)
    if config.lock_image_tower:
        model.lock_image_tower(unlocked_groups=0, freeze_bn_stats=True)  # type: ignore[operator]
    return model


def _load_local(model: torch.nn.Module, path: Path) -> None:
    if not path.is_file():
        raise ModelError(f"pretrained weights {path} not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state.get("model", state))
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})


def image_size(model: torch.nn.Module) -> int:
    size: Any = model.visual.image_size  # type: ignore[union-attr]
    return int(size[0] if isinstance(size, tuple | list) else size)


def tokenizer(context_length: int) -> Any:
    return open_clip.get_tokenizer(TOKENIZER_ARCH, context_length=context_length)


def image_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """RGB uint8 -> normalised CHW float, resized to the model's input (squashing: frames are near square)."""
    if image.shape[0] != size or image.shape[1] != size:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    array = (image.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


class ImageLoader:
    """Bucket key -> input tensor, with a small LRU cache: replayed pairs are read again and again."""

    def __init__(self, store: ObjectStore, size: int, cache_size: int = 4096) -> None:
        self.store = store
        self.size = size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def load(self, key: str) -> torch.Tensor:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        try:
            tensor = image_tensor(decode_jpeg(self.store.get_bytes(key)), self.size)
        except KeyError:
            raise ModelError(f"image {key!r} is not in the bucket") from None
        self._cache[key] = tensor
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return tensor

    def batch(self, keys: list[str]) -> torch.Tensor:
        return torch.stack([self.load(k) for k in keys])
