"""Labelled pictures for the histology classifier and the magnification estimate, split by seed.

Positives are stained tissue as a lecture shows it: H&E from `slides.histology_slide` with its
stain, zoom and frame size varied, tissue from a second generator (`stained_tissue`: glands,
sheets of cells, H&E / IHC / trichrome / PAS stain vectors), crops of skimage's real IHC image,
and tissue carrying a pointer, an arrow, a circle, a label or split into panels.
Negatives are what else a lecture shows: the real photographs and scans skimage ships (those
that load offline), text slides on white and on coloured or textured backgrounds, photo slides,
the presenter, charts, diagrams, flat colour slides and software screens.

Splits never share a seed, and the real images are divided between them by name (the IHC
image by rows), so the held-out split measures pictures the fit never saw; the one exception
is the presenter, always a crop of skimage's astronaut (a training image), as in impure.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import gaussian_filter
from skimage import data as skdata

from quilt.testing import impure, motion, slides

SPLITS = ("train", "calibration", "heldout")
SPLIT_SEED_BASE = {"train": 0, "calibration": 1_000_000, "heldout": 2_000_000}
SPLIT_SEEDS = 800_000  # classifier images use base..base+SPLIT_SEEDS; magnification frames the rest
FRAME_SIZES = ((320, 240), (400, 300), (480, 360), (640, 480), (640, 360), (854, 480))

# Real non-histology images, by split. `cat` is `chelsea` under another name, so it is left out.
SKIMAGE_NEGATIVES = {
    "train": ("astronaut", "camera", "coffee", "chelsea", "brick", "grass", "moon", "coins", "hubble_deep_field",
              "colorwheel", "logo", "horse", "checkerboard", "text", "stereo_motorcycle"),
    "calibration": ("clock", "cell", "microaneurysms", "binary_blobs"),
    "heldout": ("rocket", "retina", "gravel", "page", "shepp_logan_phantom"),
}
# Rows of the 512-px IHC sample each split may crop from: the strips do not overlap, and each
# crosses the whole picture, so every split has brown glands and the pale blue stroma.
IHC_ROWS = {"train": (0, 256), "calibration": (256, 352), "heldout": (352, 512)}

# Optical densities (R, G, B) per unit concentration: what each stain absorbs.
STAIN_OD = {
    "hematoxylin": (0.65, 0.70, 0.29),
    "eosin": (0.07, 0.99, 0.11),
    "dab": (0.27, 0.57, 0.78),
    "aniline_blue": (0.80, 0.55, 0.12),  # trichrome collagen
    "fuchsin": (0.10, 0.85, 0.55),  # trichrome cytoplasm: red
    "pas": (0.25, 0.95, 0.30),  # magenta
}
STAIN_SETS = {  # (nuclei, cytoplasm, stroma)
    "he": ("hematoxylin", "eosin", "eosin"),
    "ihc": ("hematoxylin", "dab", "hematoxylin"),
    "trichrome": ("hematoxylin", "fuchsin", "aniline_blue"),
    "pas": ("hematoxylin", "pas", "pas"),
}


@dataclass(frozen=True)
class LabelledImage:
    image: np.ndarray  # HxWx3 uint8
    label: int  # 1 histology, 0 not
    kind: str
    seed: int
    group: str = ""  # kind, or "real_photo:<name>": what training balances over


@functools.lru_cache(maxsize=32)
def _skimage(name: str) -> np.ndarray:
    """A skimage sample as RGB uint8, read once (the files are PNGs inside the package)."""
    # binary_blobs is drawn at random on every call unless seeded: the set must not change.
    source = skdata.binary_blobs(rng=0) if name == "binary_blobs" else getattr(skdata, name)()
    if isinstance(source, tuple):  # stereo_motorcycle: (left, right, disparity)
        source = source[0]
    out = _rgb(source)
    out.flags.writeable = False
    return out


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


def _rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=max(6, size))
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def _frame_size(rng: np.random.Generator) -> tuple[int, int]:
    return FRAME_SIZES[int(rng.integers(0, len(FRAME_SIZES)))]


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(lo, hi, 3))
    return r, g, b


WORDS = ("liver", "portal triad", "hepatocyte", "necrosis", "carcinoma", "gland", "stroma", "mitosis",
         "Objectives", "Summary", "Differential diagnosis", "Case 3", "inflammation", "fibrosis", "Questions?",
         "biopsy", "margin", "grade", "stage", "lymph node", "kidney", "glomerulus", "the", "and", "with")


def _phrase(rng: np.random.Generator, n: int) -> str:
    return " ".join(str(rng.choice(WORDS)) for _ in range(n))


# ---------------------------------------------------------------- tissue


def _stain_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale the optical density overall (stain intensity) and per channel (hue, a little)."""
    od = -np.log(np.clip(image.astype(np.float32) / 255.0, 1 / 255, 1.0))
    od *= rng.uniform(0.7, 1.35) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    return (np.clip(np.exp(-od), 0, 1) * 255 + 0.5).astype(np.uint8)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Noise blurred to a feature size, in [0, 1]; wide blurs are made at a lower resolution and scaled up."""
    k = max(1, int(sigma // 3))
    small = gaussian_filter(rng.standard_normal((-(-shape[0] // k), -(-shape[1] // k))), sigma / k)
    small = (small - small.min()) / max(float(np.ptp(small)), 1e-9)
    if k == 1:
        return small
    big = Image.fromarray(small.astype(np.float32)).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(big, dtype=np.float64)


def stained_tissue(seed: int, size: tuple[int, int], stain: str = "he", nucleus_radius: float | None = None
                   ) -> np.ndarray:
    """Tissue built from stain concentrations: glands lined by nuclei, or a sheet of cells, in stroma.

    `nucleus_radius` (pixels of the output) sets the apparent magnification; random when None.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    shape = (h, w)
    r = float(nucleus_radius) if nucleus_radius is not None else rng.uniform(1.2, 6.0)
    nuclei_stain, cyto_stain, stroma_stain = STAIN_SETS[stain]
    coarse = _smooth_field(rng, shape, sigma=max(3.0, 6.0 * r))
    fibre_sigma = (0.6 * r, 3.0 * r) if rng.integers(0, 2) else (3.0 * r, 0.6 * r)
    fibres = gaussian_filter(rng.standard_normal(shape), fibre_sigma)
    fibres = (fibres - fibres.min()) / max(float(np.ptp(fibres)), 1e-9)
    glands = _smooth_field(rng, shape, sigma=max(4.0, 10.0 * r))
    lumen = glands > rng.uniform(0.62, 0.8)
    epithelium = (glands > rng.uniform(0.45, 0.55)) & ~lumen
    # Nuclei: impulses blurred to blobs of radius ~r; denser in epithelium and cellular areas.
    density = (0.25 + 0.75 * coarse) * np.where(epithelium, 2.5, 1.0) * (~lumen)
    per_pixel = rng.uniform(0.25, 0.6) / (np.pi * r * r)
    impulses = (rng.random(shape) < per_pixel * density).astype(np.float32)
    aspect = rng.uniform(0.8, 1.5)
    blobs = gaussian_filter(impulses, (r * 0.7, r * 0.7 * aspect)) * (2 * np.pi * (r * 0.7) ** 2 * aspect)
    nuclei = np.clip((blobs - 0.25) * 3.0, 0.0, 1.0)
    grain = gaussian_filter(rng.standard_normal(shape), 0.7)
    conc = {name: np.zeros(shape, np.float32) for name in STAIN_OD}
    conc[nuclei_stain] += (rng.uniform(0.9, 1.8) * nuclei * (1.0 + 0.15 * grain)).astype(np.float32)
    cyto = np.where(epithelium, rng.uniform(0.35, 0.7), 0.0) * (1.0 - nuclei)
    conc[cyto_stain] += cyto.astype(np.float32)
    stroma = (0.08 + rng.uniform(0.25, 0.55) * coarse * (0.5 + fibres)) * ~lumen * ~epithelium
    conc[stroma_stain] += stroma.astype(np.float32)
    if stain == "ihc":  # some nuclei stain brown, the positive cells
        positive = _smooth_field(rng, shape, 4.0 * r) > 0.5
        conc["dab"] += (nuclei * positive * rng.uniform(0.6, 1.2)).astype(np.float32)
    od = sum(conc[name][..., None] * np.asarray(STAIN_OD[name], np.float32) for name in STAIN_OD)
    rgb = np.exp(-np.asarray(od)) * rng.uniform(0.92, 1.0)  # slide background a bit off-white
    rgb = rgb + rng.normal(0, 0.012, rgb.shape)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def he_slide(seed: int) -> np.ndarray:
    """`slides.histology_slide` rendered 120-420 px wide and scaled to a frame, its stain varied.

    The render width sets the apparent magnification (from 0.8x to 7x zoom onto the frame); it
    stays small because the renderer draws nuclei one at a time.
    """
    rng = np.random.default_rng(seed)
    frame = _frame_size(rng)
    render_w = int(np.exp(rng.uniform(np.log(120), np.log(420))))
    render = (render_w, max(36, render_w * frame[1] // frame[0]))
    return _resize(_stain_jitter(slides.histology_slide(seed, render), rng), frame)


def generated_tissue(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = _frame_size(rng)
    stain = ("he", "he", "ihc", "trichrome", "pas")[int(rng.integers(0, 5))]
    render = (frame[0] // 2, frame[1] // 2)  # rendered at half size: cheaper, and a frame is rarely sharper
    return _resize(stained_tissue(seed, render, stain), frame)


def ihc_crop(seed: int, split: str) -> np.ndarray:
    """A crop of skimage's IHC image from this split's own rows, scaled to a frame."""
    rng = np.random.default_rng(seed)
    source = _skimage("immunohistochemistry")
    y0, y1 = IHC_ROWS[split]
    frame = _frame_size(rng)
    ch = int(rng.integers(min(64, y1 - y0), y1 - y0 + 1))
    cw = min(source.shape[1], int(ch * frame[0] / frame[1]))
    y = y0 + int(rng.integers(0, y1 - y0 - ch + 1))
    x = int(rng.integers(0, source.shape[1] - cw + 1))
    crop = np.ascontiguousarray(source[y:y + ch, x:x + cw])
    return _resize(_stain_jitter(crop, rng), frame)


def _arrow(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int]) -> None:
    """A solid presentation arrow (yellow, green, black or white) pointing somewhere in the frame."""
    w, h = size
    length = rng.uniform(0.08, 0.15) * w
    half, head = length * 0.06, length * 0.22
    tip = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
    angle = rng.uniform(0, 2 * np.pi)
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    neck = tip - along * head
    outline = [neck + across * half, tip - along * length + across * half, tip - along * length - across * half,
               neck - across * half, neck - across * head * 0.6, tip, neck + across * head * 0.6]
    colours = [(255, 255, 0), (0, 220, 0), (0, 0, 0), (255, 255, 255)]
    draw.polygon([(float(x), float(y)) for x, y in outline], fill=colours[int(rng.integers(0, len(colours)))])


def _panels(seed: int, rng: np.random.Generator) -> np.ndarray:
    """Two or four tissue panels on white with gutters, as in a figure."""
    w, h = _frame_size(rng)
    cols, rows = (2, 1) if rng.integers(0, 2) else (2, 2)
    gutter = int(rng.integers(6, 18))
    pw, ph = (w - (cols + 1) * gutter) // cols, (h - (rows + 1) * gutter) // rows
    canvas = np.full((h, w, 3), 255, np.uint8)
    for k in range(cols * rows):
        r, c = divmod(k, cols)
        x, y = gutter + c * (pw + gutter), gutter + r * (ph + gutter)
        panel = he_slide(seed * 7 + k) if k % 2 == 0 else generated_tissue(seed * 7 + k)
        canvas[y:y + ph, x:x + pw] = _resize(panel, (pw, ph))
    return canvas


def tissue_with_overlay(seed: int) -> np.ndarray:
    """Tissue still worth keeping: a mouse pointer, an arrow, a circle, a short label, or 2-4 panels."""
    rng = np.random.default_rng(seed)
    choice = int(rng.integers(0, 5))
    if choice == 4:
        return _panels(seed, rng)
    image = he_slide(seed) if rng.integers(0, 2) else generated_tissue(seed)
    if choice == 0:
        return motion.draw_annotation(image, seed)
    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    if choice == 1:
        _arrow(draw, rng, img.size)
    elif choice == 2:  # a mouse cursor: black with a white rim, 12-20 px
        side = float(rng.integers(12, 21))
        x, y = rng.uniform(0, img.size[0] - side), rng.uniform(0, img.size[1] - side)
        draw.polygon([(x, y), (x, y + side), (x + side * 0.3, y + side * 0.7), (x + side * 0.7, y + side * 0.7)],
                     fill="black", outline="white")
    else:  # a short label such as a magnification or a letter
        x, y = int(rng.integers(5, image.shape[1] // 2)), int(rng.integers(5, image.shape[0] - 40))
        draw.text((x, y), _phrase(rng, 2), fill="white" if rng.integers(0, 2) else "black",
                  font=_font(int(rng.integers(14, 24))))
    return np.asarray(img, dtype=np.uint8).copy()


# ---------------------------------------------------------------- not tissue


def real_photo(seed: int, split: str, name: str | None = None, whole: bool = False) -> np.ndarray:
    """One of this split's skimage images as it is (`whole`), or a crop of it (half the side or more),
    maybe mirrored or toned; half the crops at their own resolution (a picture pasted into a slide),
    half scaled to a frame.
    """
    rng = np.random.default_rng(seed)
    names = SKIMAGE_NEGATIVES[split]
    arr = _skimage(name or names[int(rng.integers(0, len(names)))])
    if whole:
        return arr.copy()
    h, w = arr.shape[:2]
    ch, cw = int(h * rng.uniform(0.5, 1.0)), int(w * rng.uniform(0.5, 1.0))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = arr[y:y + ch, x:x + cw]
    if rng.integers(0, 2):
        crop = crop[:, ::-1]
    if rng.integers(0, 3) == 0 and split == "train":  # an augmentation: measured on untouched images
        crop = _sepia(crop, rng)
    if rng.integers(0, 2):
        return np.ascontiguousarray(crop)
    return _resize(np.ascontiguousarray(crop), _frame_size(rng))


def _sepia(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A warm duotone (sepia, wood, tan): brown texture without a counterstain, like fur or wood."""
    grey = image.astype(np.float32).mean(axis=2, keepdims=True) / 255.0
    dark = np.array([rng.uniform(40, 90), rng.uniform(20, 50), rng.uniform(5, 25)], np.float32)
    light = np.array([rng.uniform(220, 255), rng.uniform(180, 225), rng.uniform(130, 190)], np.float32)
    return (dark + (light - dark) * grey).astype(np.uint8)


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """White, a flat colour (slide-template blues, purples, pinks among them), a gradient or a texture."""
    w, h = size
    kind = int(rng.integers(0, 5))
    if kind == 0:
        return np.full((h, w, 3), 255, np.uint8)
    base = np.array(_colour(rng), np.float32)
    if kind == 1:
        return np.broadcast_to(base, (h, w, 3)).astype(np.uint8)
    if kind == 2:  # stain-like template colours are the hard ones
        pinks = [(230, 180, 220), (112, 48, 160), (200, 120, 200), (68, 114, 196), (150, 80, 170), (245, 210, 230)]
        return np.broadcast_to(np.array(pinks[int(rng.integers(0, len(pinks)))], np.uint8), (h, w, 3)).copy()
    if kind == 3:
        other = np.array(_colour(rng), np.float32)
        vertical = bool(rng.integers(0, 2))
        t = np.linspace(0, 1, h if vertical else w, dtype=np.float32)
        ramp = t[:, None, None] if vertical else t[None, :, None]
        return np.broadcast_to(base + (other - base) * ramp, (h, w, 3)).astype(np.uint8)
    # A mottled template background ("marble", "parchment"): texture, but soft and in one colour.
    small = (max(8, h // 4), max(8, w // 4))
    mottle = _smooth_field(rng, small, rng.uniform(2.0, 6.0))
    mottle = np.asarray(Image.fromarray((mottle * 255).astype(np.uint8)).resize(size), np.float32)[..., None] / 255
    return np.clip(base * (0.75 + 0.4 * mottle), 0, 255).astype(np.uint8)


def text_frame(seed: int) -> np.ndarray:
    """A title and bullets; dark ink on light backgrounds, light ink on dark ones."""
    rng = np.random.default_rng(seed)
    if rng.integers(0, 4) == 0:
        return slides.text_slide(_phrase(rng, 3), [_phrase(rng, 4) for _ in range(int(rng.integers(1, 7)))],
                                 _frame_size(rng))
    size = _frame_size(rng)
    bg = _background(rng, size)
    ink = (0, 0, 0) if bg.mean() > 128 else (255, 255, 255)
    if rng.integers(0, 3) == 0:
        ink = _colour(rng)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    scale = size[1] / 480
    draw.text((int(30 * scale), int(25 * scale)), _phrase(rng, 3), fill=ink, font=_font(int(36 * scale)))
    for i in range(int(rng.integers(2, 8))):
        draw.text((int(50 * scale), int((100 + 48 * i) * scale)), "- " + _phrase(rng, int(rng.integers(2, 6))),
                  fill=ink, font=_font(int(rng.uniform(20, 30) * scale)))
    return np.asarray(img, dtype=np.uint8).copy()


def photo_frame(seed: int, split: str) -> np.ndarray:
    """A slide with a title and a photograph beside some bullets (not tissue: a photo of a person or thing)."""
    rng = np.random.default_rng(seed)
    size = _frame_size(rng)
    w, h = size
    photo = real_photo(seed, split)
    img = Image.fromarray(_background(rng, size) if rng.integers(0, 2) else np.full((h, w, 3), 255, np.uint8))
    pw, ph = int(w * rng.uniform(0.35, 0.6)), int(h * rng.uniform(0.45, 0.75))
    img.paste(Image.fromarray(photo).resize((pw, ph)), (w - pw - int(w * 0.05), int(h * 0.2)))
    draw = ImageDraw.Draw(img)
    draw.text((int(w * 0.05), int(h * 0.05)), _phrase(rng, 3), fill="black", font=_font(max(10, h // 14)))
    for i in range(int(rng.integers(1, 5))):
        draw.text((int(w * 0.05), int(h * (0.25 + 0.1 * i))), _phrase(rng, 2), fill="black",
                  font=_font(max(8, h // 22)))
    return np.asarray(img, dtype=np.uint8).copy()


def presenter_frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if rng.integers(0, 2):
        return impure.presenter(seed)[0]
    return next(motion.presenter_frames(seed, _frame_size(rng), 1, 10))


def chart_frame(seed: int) -> np.ndarray:
    """A bar, line or pie chart with axes and labels."""
    rng = np.random.default_rng(seed)
    size = _frame_size(rng)
    w, h = size
    img = Image.new("RGB", size, "white" if rng.integers(0, 3) else _colour(rng, 200, 256))
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = int(w * 0.12), int(h * 0.15), int(w * 0.92), int(h * 0.85)
    draw.text((x0, int(h * 0.03)), _phrase(rng, 3), fill="black", font=_font(max(10, h // 16)))
    kind = int(rng.integers(0, 3))
    colours = [_colour(rng) for _ in range(6)]
    if kind == 2:  # pie
        cx, cy, r = (x0 + x1) // 2, (y0 + y1) // 2, min(x1 - x0, y1 - y0) // 2
        cuts = np.sort(rng.uniform(0, 360, int(rng.integers(3, 7))))
        for i, (a, b) in enumerate(zip(cuts, np.roll(cuts, -1), strict=True)):
            draw.pieslice((cx - r, cy - r, cx + r, cy + r), float(a), float(b + 360 * (b <= a)),
                          fill=colours[i % 6], outline="white")
        return np.asarray(img, dtype=np.uint8).copy()
    draw.line((x0, y0, x0, y1, x1, y1), fill="black", width=2)
    n = int(rng.integers(4, 12))
    values = rng.uniform(0.1, 1.0, n)
    step = (x1 - x0) / n
    if kind == 0:
        for i, v in enumerate(values):
            draw.rectangle((x0 + i * step + step * 0.15, y1 - v * (y1 - y0), x0 + (i + 0.85) * step, y1 - 1),
                           fill=colours[i % 2 if rng.integers(0, 2) else 0])
    else:
        for series in range(int(rng.integers(1, 4))):
            pts = [(x0 + (i + 0.5) * step, y1 - float(v) * (y1 - y0)) for i, v in enumerate(rng.uniform(0.1, 1, n))]
            draw.line(pts, fill=colours[series], width=3)
    for i in range(n):
        draw.text((int(x0 + i * step), y1 + 4), str(i + 1), fill="black", font=_font(max(8, h // 30)))
    return np.asarray(img, dtype=np.uint8).copy()


def diagram_frame(seed: int) -> np.ndarray:
    """Boxes with labels joined by arrows: a flow chart or a schematic."""
    rng = np.random.default_rng(seed)
    size = _frame_size(rng)
    w, h = size
    img = Image.fromarray(_background(rng, size) if rng.integers(0, 3) == 0 else np.full((h, w, 3), 255, np.uint8))
    draw = ImageDraw.Draw(img)
    centres = []
    for _ in range(int(rng.integers(3, 8))):
        cx, cy = int(rng.uniform(0.15, 0.85) * w), int(rng.uniform(0.15, 0.85) * h)
        bw, bh = int(w * rng.uniform(0.1, 0.2)), int(h * rng.uniform(0.07, 0.14))
        box = (cx - bw // 2, cy - bh // 2, cx + bw // 2, cy + bh // 2)
        if rng.integers(0, 2):
            draw.ellipse(box, fill=_colour(rng, 120, 256), outline="black", width=2)
        else:
            draw.rectangle(box, fill=_colour(rng, 120, 256), outline="black", width=2)
        draw.text((box[0] + 4, cy - 6), _phrase(rng, 1), fill="black", font=_font(max(8, h // 28)))
        centres.append((cx, cy))
    for a, b in zip(centres, centres[1:], strict=False):
        draw.line((a, b), fill="black", width=2)
    return np.asarray(img, dtype=np.uint8).copy()


def flat_frame(seed: int) -> np.ndarray:
    """A section divider: a background and perhaps one big word or a logo."""
    rng = np.random.default_rng(seed)
    size = _frame_size(rng)
    img = Image.fromarray(_background(rng, size))
    if rng.integers(0, 2):
        ImageDraw.Draw(img).text((size[0] // 5, size[1] // 2 - 20), _phrase(rng, 2), fill=_colour(rng),
                                 font=_font(size[1] // 10))
    return np.asarray(img, dtype=np.uint8).copy()


def ui_frame(seed: int, split: str) -> np.ndarray:
    """A software screen: title bar, toolbar, a list of rows with text, a side panel, maybe a thumbnail."""
    rng = np.random.default_rng(seed)
    size = _frame_size(rng)
    w, h = size
    dark = bool(rng.integers(0, 3) == 0)
    img = Image.new("RGB", size, (30, 30, 34) if dark else (245, 245, 247))
    draw = ImageDraw.Draw(img)
    ink = (220, 220, 220) if dark else (20, 20, 20)
    bar = int(h * 0.06)
    draw.rectangle((0, 0, w, bar), fill=_colour(rng, 40, 220))
    draw.rectangle((0, bar, w, 2 * bar), fill=(60, 60, 66) if dark else (220, 220, 224))
    for i in range(int(rng.integers(4, 10))):
        draw.rectangle((6 + i * bar * 1.4, bar + 4, 6 + i * bar * 1.4 + bar - 8, 2 * bar - 4), fill=_colour(rng))
    panel = int(w * rng.uniform(0.15, 0.3))
    draw.rectangle((0, 2 * bar, panel, h), fill=(45, 45, 50) if dark else (232, 232, 236))
    row = max(12, int(h * 0.045))
    for i, y in enumerate(range(2 * bar + 6, h - row, row)):
        draw.text((8, y), _phrase(rng, 1), fill=ink, font=_font(max(8, row - 5)))
        draw.text((panel + 10, y), _phrase(rng, 3), fill=ink, font=_font(max(8, row - 5)))
        if i % 2:
            draw.line((panel, y + row - 2, w, y + row - 2), fill=(200, 200, 205) if not dark else (70, 70, 75))
    if rng.integers(0, 2):
        thumb = real_photo(seed, split)
        tw = int(w * 0.25)
        img.paste(Image.fromarray(thumb).resize((tw, tw * 3 // 4)), (w - tw - 10, 2 * bar + 10))
    return np.asarray(img, dtype=np.uint8).copy()


def _real_name(split: str, serial: int) -> str:
    return SKIMAGE_NEGATIVES[split][serial % len(SKIMAGE_NEGATIVES[split])]


Maker = Callable[[int, str, int], np.ndarray]  # (seed, split, serial number within its kind)
POSITIVE_KINDS: dict[str, Maker] = {
    "he": lambda seed, split, serial: he_slide(seed),
    "generated_tissue": lambda seed, split, serial: generated_tissue(seed),
    "ihc": lambda seed, split, serial: ihc_crop(seed, split),
    "overlay": lambda seed, split, serial: tissue_with_overlay(seed),
}
NEGATIVE_KINDS: dict[str, Maker] = {
    # Every real image of the split in turn, so each is seen equally often.
    # Each image once as it is, then crops.
    "real_photo": lambda seed, split, serial: real_photo(
        seed, split, _real_name(split, serial), whole=serial < len(SKIMAGE_NEGATIVES[split])),
    "text": lambda seed, split, serial: text_frame(seed),
    "photo_slide": lambda seed, split, serial: photo_frame(seed, split),
    "presenter": lambda seed, split, serial: presenter_frame(seed),
    "chart": lambda seed, split, serial: chart_frame(seed),
    "diagram": lambda seed, split, serial: diagram_frame(seed),
    "flat": lambda seed, split, serial: flat_frame(seed),
    "ui": lambda seed, split, serial: ui_frame(seed, split),
}
# Of every 12 negatives: 4 real images (the hardest, and the only real pictures), 1 of each other kind.
NEGATIVE_CYCLE = ("real_photo", "text", "real_photo", "photo_slide", "presenter", "real_photo", "chart", "diagram",
                  "real_photo", "flat", "ui", "text")


def labelled_set(split: str, per_class: int, offset: int = 0) -> Iterator[LabelledImage]:
    """`per_class` positives then `per_class` negatives of `split`, the same ones on every call.

    Image i has seed SPLIT_SEED_BASE[split] + offset + i; `offset` picks another sample of the split.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if offset < 0 or offset + per_class > SPLIT_SEEDS:
        raise ValueError(f"seeds {offset}..{offset + per_class} leave the split's range of {SPLIT_SEEDS}")
    base = SPLIT_SEED_BASE[split] + offset
    for label, cycle, makers in ((1, tuple(POSITIVE_KINDS), POSITIVE_KINDS), (0, NEGATIVE_CYCLE, NEGATIVE_KINDS)):
        serials: dict[str, int] = {}
        for i in range(per_class):
            kind = cycle[i % len(cycle)]
            serial = serials[kind] = serials.get(kind, -1) + 1
            group = f"{kind}:{_real_name(split, serial)}" if kind == "real_photo" else kind
            yield LabelledImage(makers[kind](base + i, split, serial), label, kind, base + i, group)


# ---------------------------------------------------------------- magnification truth

# Nucleus diameter as a fraction of the frame width, at the class edges: about 8 um nuclei in a
# frame that spans ~2.2 mm at 10x, ~1.1 mm at 20x; Quilt's classes are <=10x, 10-20x, >20x.
MAGNIFICATION_EDGES = (0.005, 0.010)


def magnification_truth(diameter_frac: float) -> str:
    low, high = MAGNIFICATION_EDGES
    return "low" if diameter_frac < low else ("medium" if diameter_frac < high else "high")


def magnification_set(split: str, count: int) -> Iterator[tuple[np.ndarray, str, float]]:
    """(frame, class, nucleus diameter / frame width): tissue rendered at a known nucleus size.

    Sizes stay clear of the class edges by a margin (x1.15) so the truth is not a coin toss.
    """
    base = SPLIT_SEED_BASE[split] + SPLIT_SEEDS
    classes = ("low", "medium", "high")
    low, high = MAGNIFICATION_EDGES
    spans = {"low": (0.0022, low / 1.15), "medium": (low * 1.15, high / 1.15), "high": (high * 1.15, 0.035)}
    for i in range(count):
        seed = base + i
        rng = np.random.default_rng(seed)
        truth = classes[i % 3]
        frac = float(np.exp(rng.uniform(*np.log(spans[truth]))))
        frame = _frame_size(rng)
        stain = ("he", "he", "ihc", "pas")[int(rng.integers(0, 4))]
        # Render at most 480 px wide (cost), then scale to the frame: the fraction is unchanged.
        render_w = min(frame[0], 480)
        render = (render_w, int(render_w * frame[1] / frame[0]))
        # stained_tissue's radius is the blob's; its visible diameter is about 2 radii.
        tissue = stained_tissue(seed, render, stain, nucleus_radius=frac * render_w / 2.0)
        yield _resize(tissue, frame), truth, frac
