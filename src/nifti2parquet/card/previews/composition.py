"""One PNG per column: a row per image, each row its caption and its three views.

An image's views share one scale (pixels per mm) and are centred on one row height, so its
sagittal, coronal and axial views are of one size and its anatomy in proportion; each row is
about ``ROW_HEIGHT`` pixels tall whatever the image's resolution. Above each row, a caption says
which image it is (the column, its path in the dataset, its matrix and voxel size); in the lower
corners of each view, letters say which side is which (L/R, P/A). The background is black, as in
a viewer; there is no frame or margin beyond a few pixels between views.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from .resampling import (
    GAP,
    MAX_ROW_WIDTH,
    VIEWS,
    arrangement,
    oriented_views,
    pixel_size,
    resample,
    scale_for,
)
from .shading import grey, label_colours, overlay, to_unit, window
from .slices import Planes

CAPTION = 20  # pixels: the caption's band above a row
TEXT = 13  # caption font size (pixels)
LETTER = 11  # font size of the side letters
SIDES = {"sagittal": ("P", "A"), "coronal": ("L", "R"), "axial": ("L", "R")}


@dataclass(frozen=True)
class Row:
    """One image as drawn: a caption and its views (uint8, grey ``(h, w)`` or RGB
    ``(h, w, 3)``), named in ``views`` order, placed in ``columns`` (indices into ``panels``,
    top to bottom)."""

    caption: str
    panels: tuple[Any, ...]
    views: tuple[str, ...] = VIEWS
    columns: tuple[tuple[int, ...], ...] = ((0,), (1,), (2,))


def image_row(planes: Planes, caption: str, labels: bool = False) -> Row:
    """The three views of an image: windowed grey, or each label value in its colour."""
    views = oriented_views(planes)
    columns = arrangement(views)
    scale = scale_for(views, columns, min(planes.voxel_sizes))
    if labels:
        panels = [label_colours(resample(v.values, pixel_size(v, scale), True)) for v in views]
    else:
        low, high = window(planes)
        panels = [grey(resample(to_unit(v.values, low, high), pixel_size(v, scale))) for v in views]
    return Row(caption, tuple(panels), tuple(v.name for v in views), _tuples(columns))


def _tuples(columns: list[list[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(column) for column in columns)


def overlay_row(image: Planes, labels: Planes, caption: str) -> Row:
    """The three views of an image with a label image drawn over it (its values in colour,
    outlined). The two must share their voxel grid, as a segmentation and its image do."""
    same_grid = image.shape[:3] == labels.shape[:3] and np.allclose(
        image.affine, labels.affine, atol=1e-3 * min(image.voxel_sizes)
    )
    if not same_grid:
        raise ValueError("the label image is not on its image's voxel grid (shape or affine)")
    views, label_views = oriented_views(image), oriented_views(labels)
    columns = arrangement(views)
    scale = scale_for(views, columns, min(image.voxel_sizes))
    low, high = window(image)
    panels = []
    for view, label_view in zip(views, label_views):
        size = pixel_size(view, scale)
        shade = grey(resample(to_unit(view.values, low, high), size))
        panels.append(overlay(shade, resample(label_view.values, size, True)))
    return Row(caption, tuple(panels), tuple(v.name for v in views), _tuples(columns))


def describe(planes: Planes) -> str:
    """The matrix and voxel size, as a caption shows them: ``256x256x176, 1x1x1.2 mm``."""
    shape = "x".join(str(n) for n in planes.shape)
    sizes = "x".join(f"{s:.3g}" for s in planes.voxel_sizes)
    first = ", first volume" if len(planes.shape) > 3 and int(np.prod(planes.shape[3:])) > 1 else ""
    return f"{shape}, {sizes} mm{first}"


def compose(rows: Sequence[Row]) -> tuple[bytes, list[list[list[int]]]]:
    """The PNG of the rows, and each view's ``[left, top, width, height]`` in it, per row."""
    from PIL import Image, ImageDraw

    colour = any(p.ndim == 3 for row in rows for p in row.panels)
    font = _font(TEXT)
    places = [_places(row) for row in rows]
    heights = [
        max(y + p.shape[0] for (_, y), p in zip(place, row.panels))
        for row, place in zip(rows, places)
    ]
    widths = [
        max(x + p.shape[1] for (x, _), p in zip(place, row.panels))
        for row, place in zip(rows, places)
    ]
    captions = [min(MAX_ROW_WIDTH, _text_width(font, row.caption) + 4) for row in rows]
    width = max(*widths, *captions)
    height = sum(CAPTION + h for h in heights) + GAP * (len(rows) - 1)
    canvas = np.zeros((height, width, 3) if colour else (height, width), np.uint8)
    layout, top = [], 0
    for row, place, row_height in zip(rows, places, heights):
        boxes = []
        for (x, y), panel in zip(place, row.panels):
            h, w = panel.shape[:2]
            y += top + CAPTION
            grey_in_colour = colour and panel.ndim == 2
            canvas[y : y + h, x : x + w] = panel[..., None] if grey_in_colour else panel
            boxes.append([x, y, w, h])
        layout.append(boxes)
        top += CAPTION + row_height + GAP
    picture = Image.fromarray(canvas, "RGB" if colour else "L")
    draw = ImageDraw.Draw(picture)
    ink = (235, 235, 235) if colour else 235
    faint = (170, 170, 170) if colour else 170
    top = 0
    for row, boxes, row_height in zip(rows, layout, heights):
        draw.text((2, top + 3), _fit(font, row.caption, width - 4), fill=ink, font=font)
        for name, box in zip(row.views, boxes):
            _side_letters(draw, name, box, faint)
        top += CAPTION + row_height + GAP
    return _png(picture), layout


def _png(picture: Any) -> bytes:
    """The picture's PNG, at zlib level 1 (level 6: 2.3x the time for 12% fewer bytes).

    Saved to a buffer named ``*.png`` rather than with ``format="PNG"``: given a format, Pillow
    first imports the plugins of every common format (BMP, GIF, JPEG, PPM and PNG, about 0.01 s
    of CPU in a build's first drawing); from the name's extension it imports the PNG writer
    alone. The same bytes either way."""
    buffer = io.BytesIO()
    buffer.name = "preview.png"
    picture.save(buffer, compress_level=1)
    return buffer.getvalue()


def _places(row: Row) -> list[tuple[int, int]]:
    """Each panel's (left, top) in its row: columns side by side, a column's panels one above
    the other, each column centred on the row's height and each panel on its column's width."""
    sizes = [p.shape[:2] for p in row.panels]
    stacks = [sum(sizes[i][0] for i in column) + GAP * (len(column) - 1) for column in row.columns]
    height = max(stacks)
    places: list[tuple[int, int]] = [(0, 0)] * len(row.panels)
    left = 0
    for column, stack in zip(row.columns, stacks):
        width = max(sizes[i][1] for i in column)
        top = (height - stack) // 2
        for i in column:
            places[i] = (left + (width - sizes[i][1]) // 2, top)
            top += sizes[i][0] + GAP
        left += width + GAP
    return places


def _side_letters(draw: Any, view: str, box: list[int], fill: Any) -> None:
    """L and R (sagittal: P and A) in the lower corners of a view wide enough for them."""
    left, top, width, height = box
    if width < 4 * LETTER or height < 2 * LETTER:
        return
    first, last = SIDES[view]
    bottom = top + height - LETTER - 3
    right = left + width - 3 - _letter_width(last)
    for x, letter in ((left + 3, first), (right, last)):  # outlined in black: readable on white
        outline, body = _letter_masks(letter)
        draw.bitmap((x - PAD, bottom - PAD), outline, fill=0)
        draw.bitmap((x - PAD, bottom - PAD), body, fill=fill)


PAD = 4  # pixels of room around a side letter's mask


@cache
def _letter_masks(letter: str) -> tuple[Any, Any]:
    """A side letter's outline and body as masks, rendered once and pasted wherever the letter
    goes: the same pixels as drawing the text there (``draw.text`` with a stroke pastes these
    two masks), without rendering it again for every view of every image."""
    from PIL import Image, ImageDraw

    font, size = _font(LETTER), (2 * LETTER + 2 * PAD, 2 * LETTER + 2 * PAD)
    outline, body = Image.new("L", size), Image.new("L", size)
    ImageDraw.Draw(outline).text(
        (PAD, PAD), letter, fill=255, font=font, stroke_width=1, stroke_fill=255
    )
    ImageDraw.Draw(body).text((PAD, PAD), letter, fill=255, font=font)
    return outline, body


@cache
def _letter_width(letter: str) -> int:
    return _text_width(_font(LETTER), letter)


@cache
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's own TrueType face (with FreeType)
    except (TypeError, ImportError, OSError):  # an older Pillow, or one built without FreeType
        return ImageFont.load_default()


@lru_cache(maxsize=256)
def _text_width(font: Any, text: str) -> int:
    """Pixels; remembered, as a caption is measured for the picture's width, then to fit it."""
    return int(np.ceil(font.getlength(text)))


def _fit(font: Any, text: str, width: int) -> str:
    """``text``, shortened in the middle with an ellipsis when wider than ``width`` pixels."""
    if _text_width(font, text) <= width:
        return text
    keep = len(text)
    while keep > 4:
        keep -= 1
        shorter = text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]
        if _text_width(font, shorter) <= width:
            return shorter
    return text[:1] + "…"
