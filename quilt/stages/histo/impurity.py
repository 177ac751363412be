"""Why a histology frame is impure, and where the clean tissue is: heuristics in numpy/scipy.

An audit of Quilt-1M found most images carry something besides tissue: the presenter, the
slide-viewer's window, text, arrows, several panels. These checks tag those frames and propose
a crop to the microscope field of view when the rest is flat chrome. Everything runs on a
frame block-averaged to at most WORK_SIDE pixels a side, so a 640x480 frame costs a few ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from quilt.core.boxes import Box
from quilt.stages.histo.scorers import histo_score

TAGS = ("person", "ui_chrome", "text_overlay", "arrow_or_pointer", "multi_panel")
WORK_SIDE = 400

FLAT_STD = 0.002  # local colour std below half a grey level: drawn fills, never stained glass
MIN_CROP_GAIN = 0.08  # a crop must remove at least this share of the frame to be worth proposing
MAIN_SHARE = 0.85  # the largest tissue region must hold this share of all tissue to be "the" field


@dataclass
class Work:
    """The frame at work scale plus the per-pixel maps several checks share."""

    rgb: np.ndarray  # h x w x 3 float32 in [0, 1]
    factor: int  # full-resolution pixels per work pixel
    sat: np.ndarray
    val: np.ndarray
    local_std: np.ndarray  # 3x3 colour std: texture, and the edges of drawn shapes
    tissue: np.ndarray  # raw per-pixel tissue mask (textured or stain-coloured)

    def sub(self, box: Box) -> Work:
        """The maps inside a box in work pixels, as if that part were the whole frame."""
        rows, cols = slice(box[1], box[3]), slice(box[0], box[2])
        return Work(rgb=self.rgb[rows, cols], factor=self.factor, sat=self.sat[rows, cols], val=self.val[rows, cols],
                    local_std=self.local_std[rows, cols], tissue=self.tissue[rows, cols])


def prepare_work(image: np.ndarray) -> Work:
    """The frame block-averaged to at most WORK_SIDE a side, with the maps the checks and the region search share."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] < 3 or arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ValueError(f"expected HxWx3 image, got shape {arr.shape}")
    arr = arr[..., :3]
    scale = 255.0 if np.issubdtype(arr.dtype, np.integer) else 1.0
    f = max(1, -(-max(arr.shape[:2]) // WORK_SIDE))
    h, w = arr.shape[0] // f * f, arr.shape[1] // f * f
    # Summing the f*f strided views is several times faster than reshape(...).mean on uint8 input.
    acc = np.zeros((h // f, w // f, 3), dtype=np.float32)
    for dy in range(f):
        for dx in range(f):
            acc += arr[dy:h:f, dx:w:f]
    rgb = np.clip(acc * np.float32(1.0 / (scale * f * f)), 0.0, 1.0)
    # Contiguous channel planes: reductions over a trailing axis of length 3 are slow in numpy.
    planes = [np.ascontiguousarray(rgb[..., k]) for k in range(3)]
    mx = np.maximum(np.maximum(planes[0], planes[1]), planes[2])
    mn = np.minimum(np.minimum(planes[0], planes[1]), planes[2])
    sat = (mx - mn) / np.maximum(mx, np.float32(1e-6))
    # Sum of the channels' local variances: E[|c|^2] - |E[c]|^2 over a 3x3 window.
    var = np.zeros_like(mx)
    for p in planes:
        m = ndimage.uniform_filter(p, size=3)
        var += ndimage.uniform_filter(p * p, size=3) - m * m
    local_std = np.sqrt(np.clip(var / 3.0, 0.0, None))
    tissue = (local_std > FLAT_STD) | (sat > 0.15)
    return Work(rgb=rgb, factor=f, sat=sat, val=mx, local_std=local_std, tissue=tissue)


def _largest_region(work: Work) -> tuple[np.ndarray | None, float]:
    """The largest cleaned tissue component, and its share of all cleaned tissue."""
    # Opening drops the thin textured seams that edges of buttons and borders leave in the mask;
    # closing and hole filling bridge pale lumens so a gland does not split the field.
    mask = ndimage.binary_opening(work.tissue, structure=np.ones((5, 5), bool))
    # Pad before closing: erosion treats outside the frame as background and would shave the border.
    mask = ndimage.binary_closing(np.pad(mask, 3, mode="edge"), structure=np.ones((5, 5), bool))[3:-3, 3:-3]
    mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if n == 0:
        return None, 0.0
    sizes = np.bincount(labels.ravel())[1:]
    best = int(np.argmax(sizes))
    return labels == best + 1, float(sizes[best] / sizes.sum())


def _tissue_box(work: Work, multi_panel: bool) -> Box | None:
    """Box in work pixels; see find_tissue_box."""
    if multi_panel:  # narrow gutters can close up in the mask; never crop a figure to one panel
        return None
    region, share = _largest_region(work)
    if region is None or share < MAIN_SHARE or region.mean() < 0.05:
        return None
    ys, xs = np.nonzero(region)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    h, w = region.shape
    if (box[2] - box[0]) * (box[3] - box[1]) > (1.0 - MIN_CROP_GAIN) * h * w:
        return None
    return box


def to_full(box: Box, factor: int, shape: tuple[int, ...]) -> Box:
    """A box in work pixels as full-resolution pixels of a frame of `shape`."""
    x0, y0, x1, y1 = (v * factor for v in box)
    return x0, y0, min(x1, shape[1]), min(y1, shape[0])


def find_tissue_box(image: np.ndarray) -> Box | None:
    """(x0, y0, x1, y1) of the microscope field when tissue sits inside chrome, else None.

    None when tissue fills (nearly) the frame, when there is none, or when several tissue
    regions compete (a multi-panel figure: cropping to one panel would drop the others).
    """
    work = prepare_work(image)
    box = _tissue_box(work, is_multi_panel(work))
    return None if box is None else to_full(box, work.factor, np.asarray(image).shape)


def _has_chrome(work: Work, box: Box | None) -> bool:
    """Chrome is what the crop removes, provided it is mostly flat fill rather than content."""
    if box is None:
        return False
    outside = np.ones(work.tissue.shape, bool)
    outside[box[1]:box[3], box[0]:box[2]] = False
    return float((work.local_std[outside] <= FLAT_STD).mean()) >= 0.5


def _has_person(work: Work) -> bool:
    """Skin-tone region large and smooth enough to be a face or hands, with dark features inside."""
    r, g, b = work.rgb[..., 0] * 255, work.rgb[..., 1] * 255, work.rgb[..., 2] * 255
    cr = 0.5 * r - 0.419 * g - 0.081 * b + 128
    cb = -0.169 * r - 0.331 * g + 0.5 * b + 128
    # Skin has red > green > blue; eosin pink has blue above green, which keeps H&E out.
    skin = (cr > 135) & (cr < 175) & (cb > 80) & (cb < 125) & (r > g + 12) & (g > b) & (r > 80)
    # Stains like DAB are skin-coloured too, but they cover the slide; a person is a few blobs.
    if skin.mean() > 0.4:
        return False
    skin = ndimage.binary_opening(skin, structure=np.ones((3, 3), bool))
    labels, n = ndimage.label(skin)
    if n == 0:
        return False
    sizes = np.bincount(labels.ravel())[1:]
    ok = (sizes >= 0.004 * skin.size) & (sizes <= 0.25 * skin.size)
    slices = ndimage.find_objects(labels)
    for idx in np.nonzero(ok)[0]:
        sl = slices[idx]
        if sl is None:
            continue
        # Work on the blob's own box, padded so closing and hole filling see its outline.
        comp = np.pad(labels[sl] == idx + 1, 4)
        filled = ndimage.binary_fill_holes(ndimage.binary_closing(comp, np.ones((7, 7), bool)))
        # A face holds eyes, brows and mouth: non-skin islands inside the skin blob.
        if (filled & ~comp).sum() >= 0.01 * comp.sum():
            return True
    return False


def _has_text(work: Work) -> bool:
    """Rows of sharp, dense vertical strokes: the glyphs of printed text."""
    gray = work.rgb.mean(axis=2)
    gx = np.zeros_like(gray, dtype=bool)
    gx[:, 1:] = np.abs(np.diff(gray, axis=1)) > 0.22
    lines = ndimage.binary_closing(gx, structure=np.ones((1, 7), bool))
    labels, n = ndimage.label(lines)
    for sl in ndimage.find_objects(labels):
        if sl is None:
            continue
        hh, ww = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if not (3 <= hh <= 30 and ww >= max(40, 3 * hh)):
            continue
        strokes = gx[sl]
        # Glyphs give many stroke columns along the line, a drawn bar or arrow only its ends.
        if strokes.any(axis=0).mean() >= 0.3 and strokes.sum() >= 2 * ww * 0.3:
            return True
    return False


def _elongation(mask: np.ndarray) -> float:
    """Ratio of the principal axes of a blob's pixel cloud."""
    ys, xs = np.nonzero(mask)
    ev = np.linalg.eigvalsh(np.cov(np.stack([ys, xs]).astype(np.float64)))
    return float(np.sqrt(ev[1] / max(ev[0], 1e-6)))


def _has_arrow(work: Work) -> bool:
    """A small solid blob of a presentation colour (pure yellow/green/red/blue, or black)."""
    vivid = (work.sat > 0.75) & (work.val > 0.55)
    black = work.val < 0.1
    min_area, max_area = 0.0004 * work.sat.size, 0.03 * work.sat.size
    for mask in (vivid, black):
        # Opening keeps only blobs thicker than a few pixels: arrows, not glyph outlines.
        mask = ndimage.binary_opening(mask, structure=np.ones((3, 3), bool))
        labels, n = ndimage.label(mask)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        slices = ndimage.find_objects(labels)
        for idx in np.nonzero((sizes >= min_area) & (sizes <= max_area))[0]:
            sl = slices[idx]
            if sl is None:
                continue
            comp = labels[sl] == idx + 1
            core = ndimage.binary_erosion(comp)
            if core.sum() < 4:
                continue
            # Drawn shapes are one flat colour (stained nuclei and photos never are) and an
            # arrow is long and thin, where a patch of black photo background is not.
            if float(work.rgb[sl][core].std(axis=0).max()) < 0.006 and _elongation(comp) >= 2.2:
                return True
    return False


def _uniform_runs(profile: np.ndarray) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = -1
    for i, v in enumerate(profile.tolist() + [False]):
        if v and start < 0:
            start = i
        elif not v and start >= 0:
            runs.append((start, i))
            start = -1
    return runs


def _has_gutter(work: Work, axis: int) -> bool:
    """A straight uniform band across the whole content box with tissue on both sides."""
    ys, xs = np.nonzero(work.tissue)
    if ys.size == 0:
        return False
    rgb = work.rgb[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    tissue = work.tissue[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    # axis=0: look for vertical gutters (columns uniform along their full height).
    uniform = rgb.std(axis=axis).max(axis=-1) < 0.02
    share = tissue.mean(axis=axis)
    n = uniform.size
    for a, b in _uniform_runs(uniform):
        if a == 0 or b == n or b - a < 2:
            continue
        left, right = share[:a], share[b:]
        if a >= 0.15 * n and n - b >= 0.15 * n and left.mean() > 0.5 and right.mean() > 0.5:
            return True
    return False


def is_multi_panel(work: Work) -> bool:
    """Several tissue panels split by a straight uniform gutter."""
    return _has_gutter(work, 0) or _has_gutter(work, 1)


def _tags(work: Work, box: Box | None, multi_panel: bool) -> list[str]:
    found = {
        "person": _has_person(work),
        "ui_chrome": _has_chrome(work, box),
        "text_overlay": _has_text(work),
        "arrow_or_pointer": _has_arrow(work),
        "multi_panel": multi_panel,
    }
    return [t for t in TAGS if found[t]]


def impurity_tags(image: np.ndarray) -> list[str]:
    """Which of TAGS the frame shows, in TAGS order."""
    work = prepare_work(image)
    panels = is_multi_panel(work)
    return _tags(work, _tissue_box(work, panels), panels)


@dataclass
class FilterVerdict:
    score: float  # histo_score of the crop when one is proposed, else of the whole frame
    tags: list[str] = field(default_factory=list)
    crop: Box | None = None


def inspect(image: np.ndarray) -> tuple[Box | None, list[str]]:
    """`find_tissue_box` and `impurity_tags` in one pass over the shared maps."""
    arr = np.asarray(image)
    return inspect_work(prepare_work(arr), arr.shape)


def inspect_work(work: Work, shape: tuple[int, ...]) -> tuple[Box | None, list[str]]:
    """`inspect` on maps already prepared, so the picture-region search can share them."""
    panels = is_multi_panel(work)
    box = _tissue_box(work, panels)
    crop = None if box is None else to_full(box, work.factor, shape)
    return crop, _tags(work, box, panels)


def assess(image: np.ndarray) -> FilterVerdict:
    """Tags, crop and histology score in one pass over the shared maps."""
    arr = np.asarray(image)
    crop, tags = inspect(arr)
    target = arr if crop is None else arr[crop[1]:crop[3], crop[0]:crop[2]]
    return FilterVerdict(score=histo_score(target), tags=tags, crop=crop)
