"""Box geometry shared by the field-of-view crop, the picture regions and their benchmark: (x0, y0, x1, y1)."""

from __future__ import annotations

Box = tuple[int, int, int, int]


def box_area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def overlap_area(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def box_iou(a: Box, b: Box) -> float:
    union = box_area(a) + box_area(b) - overlap_area(a, b)
    return overlap_area(a, b) / union if union > 0 else 0.0


def intersection(a: Box, b: Box) -> Box | None:
    """The overlap of two boxes, or None when they do not overlap."""
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[2] > box[0] and box[3] > box[1] else None


def inside_share(inner: Box, outer: Box) -> float:
    """Share of `inner`'s area that lies inside `outer`."""
    return overlap_area(inner, outer) / max(box_area(inner), 1)
