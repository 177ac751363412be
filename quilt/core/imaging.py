"""Small pure image helpers shared by the decoder and later stages."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.fft import dctn
from scipy.ndimage import laplace


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Accept grey or RGBA too, so callers need not care what a decoder produced."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def to_grey(image: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma as float32 in [0, 255]; matches what Pillow's "L" mode does."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    rgb = arr[..., :3].astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_as_rgb(image), mode="RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def phash(image: np.ndarray) -> str:
    """64-bit DCT perceptual hash as 16 hex digits (bit 63 = top-left DCT coefficient)."""
    grey = Image.fromarray(_as_rgb(image), mode="RGB").convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    coeffs = dctn(np.asarray(grey, dtype=np.float64), type=2, norm="ortho")[:8, :8]
    bits = (coeffs > np.median(coeffs)).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian: low for blurry frames (camera refocusing, transitions)."""
    return float(np.var(laplace(to_grey(image).astype(np.float32)), dtype=np.float64))
