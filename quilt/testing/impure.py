"""Composite lecture frames with the impurities an audit of Quilt-1M found, with ground truth.

Every generator returns (image, expected_tags, expected_crop) where expected_crop is the
(x0, y0, x1, y1) box of the tissue when it sits inside chrome, else None.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from quilt.testing.slides import histology_slide, ihc_slide, photo_slide

Frame = tuple[np.ndarray, set[str], tuple[int, int, int, int] | None]
SIZE = (640, 480)  # (width, height)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def _words(rng: np.random.Generator, n: int) -> str:
    vocab = ["gland", "stroma", "nuclei", "mitosis", "H&E", "x40", "carcinoma", "lumen", "Fig. 3", "necrosis"]
    return " ".join(str(rng.choice(vocab)) for _ in range(n))


def clean_tissue(seed: int) -> Frame:
    return histology_slide(seed, SIZE), set(), None


def clean_ihc(seed: int) -> Frame:
    return ihc_slide(seed, SIZE), set(), None


def viewer_window(seed: int) -> Frame:
    """Tissue in a slide-viewer: grey toolbar with buttons, a side panel, a dark window border."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    border = int(rng.integers(3, 8))
    toolbar = int(rng.integers(36, 60))
    panel = int(rng.integers(90, 160))
    left = bool(rng.integers(0, 2))
    img = Image.new("RGB", SIZE, (40, 40, 44))
    draw = ImageDraw.Draw(img)
    draw.rectangle((border, border, w - border - 1, border + toolbar - 1), fill=(205, 205, 208))
    for i in range(int(rng.integers(3, 7))):  # toolbar buttons: grey squares, no colour or text
        x = border + 8 + i * 34
        draw.rectangle((x, border + 8, x + 24, border + toolbar - 9), fill=(170, 170, 175), outline=(120, 120, 125))
    y0, y1 = border + toolbar, h - border
    if left:
        px0, px1 = border, border + panel
        x0, x1 = px1, w - border
    else:
        x0, x1 = border, w - border - panel
        px0, px1 = x1, w - border
    draw.rectangle((px0, y0, px1 - 1, y1 - 1), fill=(235, 235, 238))
    arr = np.asarray(img, dtype=np.uint8).copy()
    arr[y0:y1, x0:x1] = histology_slide(seed, (x1 - x0, y1 - y0))
    return arr, {"ui_chrome"}, (x0, y0, x1, y1)


def text_on_tissue(seed: int) -> Frame:
    """White annotation text with a dark outline drawn straight over the tissue."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(histology_slide(seed, SIZE))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 3))):
        x, y = int(rng.integers(10, 200)), int(rng.integers(10, 400))
        draw.text((x, y), _words(rng, 3), fill="white", font=_font(int(rng.integers(20, 30))),
                  stroke_width=2, stroke_fill="black")
    return np.asarray(img, dtype=np.uint8).copy(), {"text_overlay"}, None


def caption_band(seed: int) -> Frame:
    """A white caption band under the tissue: text, and a border band a crop should remove."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    band = int(rng.integers(60, 90))
    img = Image.new("RGB", SIZE, "white")
    img.paste(Image.fromarray(histology_slide(seed, (w, h - band))), (0, 0))
    draw = ImageDraw.Draw(img)
    draw.text((12, h - band + 10), _words(rng, 5), fill="black", font=_font(int(rng.integers(18, 24))))
    return np.asarray(img, dtype=np.uint8).copy(), {"text_overlay", "ui_chrome"}, (0, 0, w, h - band)


def arrow_on_tissue(seed: int) -> Frame:
    """A solid pointer arrow in a presentation colour (yellow, green or black) at a random angle."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    img = Image.fromarray(histology_slide(seed, SIZE))
    colours = [(255, 255, 0), (0, 255, 0), (0, 0, 0)]
    colour = colours[int(rng.integers(0, len(colours)))]
    length, shaft, head = rng.uniform(50, 90), rng.uniform(4, 7), rng.uniform(12, 18)
    # Arrow pointing along +x from the origin, then rotated and placed.
    pts = np.array([(0, -shaft), (length - head, -shaft), (length - head, -head), (length, 0),
                    (length - head, head), (length - head, shaft), (0, shaft)], dtype=float)
    ang = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    cx, cy = rng.uniform(120, w - 120), rng.uniform(120, h - 120)
    poly = [(float(x + cx), float(y + cy)) for x, y in pts @ rot.T]
    ImageDraw.Draw(img).polygon(poly, fill=colour)
    return np.asarray(img, dtype=np.uint8).copy(), {"arrow_or_pointer"}, None


def multi_panel(seed: int, cols: int = 2, rows: int = 1) -> Frame:
    """A figure of cols x rows tissue panels on white with white gutters."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    gutter, margin = int(rng.integers(8, 20)), int(rng.integers(4, 16))
    pw = (w - 2 * margin - (cols - 1) * gutter) // cols
    ph = (h - 2 * margin - (rows - 1) * gutter) // rows
    arr = np.full((h, w, 3), 255, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            x, y = margin + c * (pw + gutter), margin + r * (ph + gutter)
            arr[y:y + ph, x:x + pw] = histology_slide(seed * 10 + r * cols + c, (pw, ph))
    return arr, {"multi_panel"}, None


def presenter(seed: int) -> Frame:
    """The lecturer: a random crop of skimage's astronaut photo, full frame."""
    rng = np.random.default_rng(seed)
    photo = photo_slide((512, 512))
    side = int(rng.integers(300, 512))
    x, y = int(rng.integers(0, 512 - side + 1)), int(rng.integers(0, max(1, 300 - side // 2)))
    crop = np.ascontiguousarray(photo[y:y + side, x:x + side])
    return np.asarray(Image.fromarray(crop).resize(SIZE, Image.Resampling.BILINEAR), dtype=np.uint8), {"person"}, None


def presenter_inset(seed: int) -> Frame:
    """Picture-in-picture: the lecturer's webcam in a corner of a tissue frame."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    arr = histology_slide(seed, SIZE)
    iw = int(rng.integers(180, 240))
    ih = iw * 3 // 4
    cam = photo_slide((iw, ih))
    x = 0 if rng.integers(0, 2) else w - iw
    y = h - ih
    arr[y:y + ih, x:x + iw] = cam
    return arr, {"person"}, None


def all_frames(n_seeds: int = 4) -> list[tuple[str, Frame]]:
    """The evaluation set: every kind for seeds 0..n_seeds-1; clean frames are H&E and IHC."""
    out: list[tuple[str, Frame]] = []
    for s in range(n_seeds):
        out += [("clean", clean_tissue(s)), ("clean", clean_ihc(s)), ("viewer", viewer_window(s)),
                ("text", text_on_tissue(s)), ("caption", caption_band(s)), ("arrow", arrow_on_tissue(s)),
                ("panel2x1", multi_panel(s, 2, 1)), ("panel2x2", multi_panel(s, 2, 2)),
                ("presenter", presenter(s)), ("inset", presenter_inset(s))]
    return out
