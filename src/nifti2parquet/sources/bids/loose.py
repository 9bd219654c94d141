"""A BIDS dataset none of whose NIfTI files fits a subject's row: one row per image file.

Template and atlas datasets (``tpl-<label>/anat/tpl-<label>_T1w.nii.gz``, no ``sub-*`` folder)
are BIDS datasets whose images belong to no subject or session. Rather than publish them as
files only, each such image is a row of its own: its path in the dataset and the image. Every
other file goes to the ``files`` config as in any BIDS build. A dataset that has images in
subject rows keeps its NIfTI files that fit no row in the ``files`` config, each with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ...common.rows import Column, FileRef

COLUMNS = (
    Column("path", "value", pa.string(), "The image's path in the dataset"),
    Column("image", "image"),
)


def loose_rows(images: Sequence[FileRef]) -> tuple[tuple[Column, ...], tuple[tuple[Any, ...], ...]]:
    """Columns and rows for images that fit no subject row, in path order."""
    ordered = sorted(images, key=lambda image: image.name)
    return COLUMNS, tuple((image.name, image) for image in ordered)
