"""From voxel planes to pictures in physical proportions, oriented as radiologists expect.

Each plane is turned to the closest canonical (RAS+) orientation of the affine (as nibabel's
``io_orientation`` and ``as_closest_canonical`` do), and named for the anatomical axis it cuts:
sagittal (left–right), coronal (posterior–anterior) or axial (inferior–superior). Sagittal
shows anterior to the right, coronal and axial show the subject's right on the picture's right
(the neurological convention nilearn and MRIQC use); superior (axial: anterior) is up.

Pixels are square in millimetres: each view is resampled so that a millimetre is the same number
of pixels along both of its axes, and the three views of one image share that scale. Downsampling
averages the voxels a pixel covers (``BOX``); upsampling repeats them (``NEAREST``), so a voxel
stays a visible block of one value and nothing between two voxels is invented: a 12 mm slice
looks 12 mm thick. Neither ever goes past ``MAX_ZOOM`` pixels per voxel, beyond which a picture
only shows bigger blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .header import closest_axes
from .slices import Planes

VIEWS = ("sagittal", "coronal", "axial")
# the RAS axis that runs up each view (the other of its two runs across)
_UP = {"sagittal": 2, "coronal": 2, "axial": 1}
ROW_HEIGHT = 256  # pixels: the tallest view of an image
MAX_ROW_WIDTH = 1024  # pixels: the three views side by side, gaps included
MAX_ZOOM = 8.0  # most pixels per voxel (along its smallest side)
GAP = 8  # pixels between two views
STACK = 0.9  # two views stack when their heights add up to at most this much of the tallest


@dataclass(frozen=True)
class View:
    """One plane as it is to be seen: ``values[row, column]``, top row superior (axial: anterior),
    and the mm between two rows and between two columns."""

    name: str
    values: Any  # float32
    spacing: tuple[float, float]  # (mm per row, mm per column)

    @property
    def height_mm(self) -> float:
        return self.values.shape[0] * self.spacing[0]

    @property
    def width_mm(self) -> float:
        return self.values.shape[1] * self.spacing[1]


def oriented_views(planes: Planes) -> list[View]:
    """The sagittal, coronal and axial views of the planes, in RAS+ orientation."""
    ornt = closest_axes(planes.affine)
    found: dict[str, View] = {}
    for axis, plane in enumerate(planes.across):
        ras_axis = int(ornt[axis][0])
        name = VIEWS[ras_axis]
        others = [a for a in range(3) if a != axis]  # the plane's own two axes, in order
        up = _UP[name]
        rows_axis, cols_axis = sorted(others, key=lambda a: int(ornt[a][0]) != up)
        values = plane if rows_axis == others[0] else plane.T
        if ornt[rows_axis][1] > 0:  # the index grows towards superior: top row last
            values = values[::-1, :]
        if ornt[cols_axis][1] < 0:  # the index grows towards left: flip to right-on-the-right
            values = values[:, ::-1]
        spacing = (planes.spacing[rows_axis], planes.spacing[cols_axis])
        found[name] = View(name, np.ascontiguousarray(values), spacing)
    return [found[name] for name in VIEWS]


def arrangement(views: list[View]) -> list[list[int]]:
    """The views' columns in a row, left to right: each view in a column of its own, or, when
    the two flattest fit one above the other within the tallest (a slab: a partial-brain BOLD,
    a thick-slice acquisition), those two stacked in one column, so that the row is narrower
    and holds less black."""
    heights = [v.height_mm for v in views]
    one, two = sorted(sorted(range(len(views)), key=lambda i: heights[i])[:2])
    if len(views) != 3 or heights[one] + heights[two] > STACK * max(heights):
        return [[i] for i in range(len(views))]
    alone = ({0, 1, 2} - {one, two}).pop()
    return sorted([[one, two], [alone]])


def scale_for(views: list[View], columns: list[list[int]], voxel_size: float) -> float:
    """Pixels per mm for one image: its tallest view ``ROW_HEIGHT`` tall, unless the row would
    be wider than ``MAX_ROW_WIDTH`` or a voxel more than ``MAX_ZOOM`` pixels."""
    tallest = max(v.height_mm for v in views)
    widths = sum(max(views[i].width_mm for i in column) for column in columns)
    room = MAX_ROW_WIDTH - GAP * (len(columns) - 1)
    return min(ROW_HEIGHT / tallest, room / widths, MAX_ZOOM / voxel_size)


def pixel_size(view: View, scale: float) -> tuple[int, int]:
    """(height, width) in pixels of a view at ``scale`` pixels per mm (at least one)."""
    return max(1, round(view.height_mm * scale)), max(1, round(view.width_mm * scale))


def resample(values: Any, size: tuple[int, int], labels: bool = False) -> Any:
    """``values`` (float32) resized to ``size`` (height, width): averaged where shrunk, repeated
    where grown; labels are never averaged (the nearest voxel's value)."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), "F")
    height, width = size
    for target in ((width, picture.height), (width, height)):  # each axis with its own filter
        if target == picture.size:
            continue
        shrinks = target[0] < picture.width or target[1] < picture.height
        method = Image.Resampling.BOX if shrinks and not labels else Image.Resampling.NEAREST
        picture = picture.resize(target, method)
    return np.asarray(picture, dtype=np.float32)
