"""Values to colours: windowed grey for intensities, distinct colours for labels, and a label
drawn over its image.

An intensity image is windowed as MRIQC's mosaics are: its 0.5th percentile is black and its
99.5th white (over the voxels of its three planes), so a few very bright voxels (vessels, fat, an
artefact) do not darken the anatomy. A label or mask image (whole numbers, few distinct values, or
a column or file named like one: ``mask``, ``dseg``, ``label``, ``aseg``...) is never windowed or
averaged: each value has its colour (the same value has the same colour in every picture), 0 is
black, and a mask with a single value is white.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .slices import Planes

LOW, HIGH = 0.5, 99.5  # percentiles: black and white
FEW_VALUES = 20  # whole-number images with at most this many values are labels whatever the name
MANY_VALUES = 5000  # ... and up to this many when named like a label image (atlases, aparc)
_LABEL_NAME = re.compile(
    r"(?<![a-z])(masks?|dseg|labels?|seg|segmentation|aseg|aparc|parc|parcellation)(?![a-z])",
    re.IGNORECASE,
)
# Kelly's colours of maximum contrast (without white and black): one per label value, in turn
PALETTE = np.array(
    [
        (0xF3, 0xC3, 0x00), (0x87, 0x56, 0x92), (0xF3, 0x84, 0x00), (0xA1, 0xCA, 0xF1),
        (0xBE, 0x00, 0x32), (0xC2, 0xB2, 0x80), (0x84, 0x84, 0x82), (0x00, 0x88, 0x56),
        (0xE6, 0x8F, 0xAC), (0x00, 0x67, 0xA5), (0xF9, 0x93, 0x79), (0x60, 0x4E, 0x97),
        (0xF6, 0xA6, 0x00), (0xB3, 0x44, 0x6C), (0xDC, 0xD3, 0x00), (0x88, 0x2D, 0x17),
        (0x8D, 0xB6, 0x00), (0x65, 0x45, 0x22), (0xE2, 0x58, 0x22), (0x2B, 0x3D, 0x26),
    ],
    dtype=np.uint8,
)  # fmt: skip
FILL = 0.35  # opacity of a label's colour over its image (its outline is opaque)


def named_like_labels(*names: str) -> bool:
    return any(_LABEL_NAME.search(name.replace("-", "_")) for name in names)


def is_label_image(planes: Planes, *names: str) -> bool:
    """Whether to draw the image as labels: whole numbers only, and few distinct values (or a
    name that says so)."""
    if not planes.integral:
        return False
    values = np.concatenate([p[np.isfinite(p)].ravel() for p in planes.across])
    limit = MANY_VALUES if named_like_labels(*names) else FEW_VALUES
    return distinct_count(values) <= limit


def distinct_count(whole: Any) -> int:
    """How many distinct values an array of whole numbers holds: ``len(np.unique(whole))``,
    counted in a histogram when their range is short (``np.unique``, like ``np.percentile``,
    imports ``numpy.ma`` on its first call)."""
    if whole.size == 0:
        return 0
    low, high = whole.min(), whole.max()
    if high - low < 1 << 20:
        return int(np.count_nonzero(np.bincount((whole - low).astype(np.intp))))
    ordered = np.sort(whole)
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def window(planes: Planes) -> tuple[float, float]:
    """The intensities shown black and white: robust percentiles of the planes' values."""
    finite = np.concatenate([p[np.isfinite(p)].ravel() for p in planes.across])
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in percentiles(finite, (LOW, HIGH)))
    if high <= low:  # (almost) constant: the full range, or anything
        low, high = float(finite.min()), float(finite.max())
    return low, high if high > low else low + 1.0


def percentiles(values: Any, qs: tuple[float, ...]) -> Any:
    """``np.percentile(values, qs)`` of a non-empty 1D array, to the last bit (its linear
    method: index ``(n - 1) * q``, the same interpolation), by one ``np.partition``.
    ``np.percentile`` imports ``numpy.ma`` on its first call, 20 ms of CPU (a fifth of the
    previews of a small dataset), and nothing else in a build needs it."""
    q = np.asarray(qs, np.float64) / 100
    virtual = (values.size - 1) * q
    below = np.floor(virtual).astype(np.intp)
    above = np.minimum(below + 1, values.size - 1)
    ordered = np.partition(values, sorted({*below.tolist(), *above.tolist()}))
    a, b, gamma = ordered[below], ordered[above], virtual - below
    step = b - a
    result = np.add(a, step * gamma)
    np.subtract(b, step * (1 - gamma), out=result, where=gamma >= 0.5)
    return result


def to_unit(values: Any, low: float, high: float) -> Any:
    """Intensities to 0..1 (float32) by the window; NaN is black."""
    scaled = (np.nan_to_num(values, nan=low, posinf=high, neginf=low) - low) / (high - low)
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def grey(unit: Any) -> Any:
    return np.round(unit * 255).astype(np.uint8)


def label_colours(values: Any, binary_white: bool = True) -> Any:
    """RGB (h, w, 3) of label values: 0 black, each other value its palette colour (a mask
    with one value: white)."""
    labels = np.nan_to_num(values).astype(np.int64)
    rgb = PALETTE[(labels - 1) % len(PALETTE)]
    rgb[labels == 0] = 0
    inside = labels[labels != 0]
    if binary_white and inside.size and bool(np.all(inside == inside[0])):  # a single value
        rgb[labels != 0] = 255
    return rgb


def overlay(grey_values: Any, labels: Any) -> Any:
    """A label image over its image: each label's colour at ``FILL`` opacity, its outline
    (pixels next to a different value) opaque. Both arrays are of one size, in pixels."""
    base = np.repeat(grey_values[..., None], 3, axis=2).astype(np.float32)
    colours = label_colours(labels, binary_white=False).astype(np.float32)
    inside = np.nan_to_num(labels) != 0
    edge = inside & _edges(np.nan_to_num(labels))
    base[inside] = (1 - FILL) * base[inside] + FILL * colours[inside]
    base[edge] = colours[edge]
    return np.round(base).astype(np.uint8)


def _edges(labels: Any) -> Any:
    """Pixels whose up, down, left or right neighbour holds another value."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge
