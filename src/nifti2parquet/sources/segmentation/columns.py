"""The rows of a segmentation dataset: one per case, its images and label as ``Nifti()`` columns.

Columns: ``case_id``; the image columns (``image``, holding every channel along the 4th
dimension, when the dataset stores them in one file; otherwise one column per channel, named
from ``dataset.json``'s channel names: ``t2``, ``adc``); ``label`` (null for a case without
one, as test cases usually are); then ``shape`` and ``voxel_sizes`` from the NIfTI header of the
case's first image, which tell a 3D image from a 4D one. The label map and the channel names
travel in the columns' descriptions and in their Parquet field metadata (``labels``,
``channels``), and in the dataset's info for the card.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ...common.errors import Problem
from ...common.nifti import NiftiHeader, check_files, sort_checks
from ...common.rows import Column
from ...common.segmentation import SegmentationChannel, SegmentationInfo, field_metadata
from ...common.storage import Storage
from ..bids.crawl import file_url, listed_ref
from .cases import Case, Layout
from .description import Description

CASE_ID, LABEL, SHAPE, VOXEL_SIZES = "case_id", "label", "shape", "voxel_sizes"
ONE_FILE = "image"  # the image column when a case's channels are in one file


def channel_columns(layout: Layout, description: Description) -> tuple[SegmentationChannel, ...]:
    """Each channel with the image column holding it."""
    names = dict(description.channels)
    if not layout.per_channel:
        return tuple(SegmentationChannel(i, n, ONE_FILE) for i, n in description.channels)
    taken = {CASE_ID, LABEL, SHAPE, VOXEL_SIZES}
    channels = []
    for index in layout.channels:
        column = _snake(names.get(index, "")) or f"channel_{index:04d}"
        column = f"channel_{column}" if column[0].isdigit() else column
        column = f"{column}_{index:04d}" if column in taken else column
        taken.add(column)
        channels.append(SegmentationChannel(index, names.get(index, ""), column))
    return tuple(channels)


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def image_columns(layout: Layout, channels: Sequence[SegmentationChannel]) -> tuple[str, ...]:
    return tuple(c.column for c in channels) if layout.per_channel else (ONE_FILE,)


@dataclass(frozen=True)
class Checked:
    """Every image's header (those that passed the cheap check), and the problems found."""

    headers: dict[str, NiftiHeader]
    errors: list[Problem]
    warnings: list[Problem]


def check_headers(root: str, cases: Sequence[Case], storage: Storage, threads: int) -> Checked:
    """The cheap check of every image and label (a few KB each): their headers become data.
    Batched as a BIDS source's are (:func:`check_files`), in this process."""
    entries = [e for case in cases for e in (*case.images, case.label) if e is not None]
    files = [(e.rel, file_url(root, e.on_disk), e.size) for e in entries]
    results = check_files(files, storage, threads)
    return Checked(*sort_checks((e.rel for e in entries), results, "no readable header"))


def build_columns(info: SegmentationInfo, layout: Layout) -> tuple[Column, ...]:
    """The columns, described; the label map and channels in their field metadata too."""
    images = image_columns(layout, info.channels)
    first = images[0]
    columns = [Column(CASE_ID, "value", pa.string(), _CASE_WORDS)]
    for column in images:
        described = [c for c in info.channels if c.column == column]
        text = _image_words(layout, described)
        channels = {str(c.index): c.name for c in described}
        metadata = field_metadata(description=text, channels=channels)
        columns.append(Column(column, "image", None, text, metadata=metadata))
    label_text = _label_words(info)
    label_meta = field_metadata(
        description=label_text,
        labels=info.label_map(),
        regions_class_order=list(info.regions_class_order),
    )
    columns.append(Column(LABEL, "image", None, label_text, overlays=first, metadata=label_meta))
    columns.append(Column(SHAPE, "value", pa.list_(pa.int64()), _SHAPE_WORDS, describes=first))
    columns.append(
        Column(VOXEL_SIZES, "value", pa.list_(pa.float64()), _VOXEL_WORDS, describes=first)
    )
    return tuple(columns)


_CASE_WORDS = "Case identifier: the image's file name without its channel suffix and extension"
_SHAPE_WORDS = (
    "Shape of the case's first image, from its NIfTI header (a 4th value: channels or volumes "
    "along the 4th dimension)"
)
_VOXEL_WORDS = "Voxel sizes (pixdim) of the case's first image, from its NIfTI header"


def _image_words(layout: Layout, channels: Sequence[SegmentationChannel]) -> str:
    if layout.per_channel:
        channel = channels[0]
        name = f" ({channel.name})" if channel.name else ""
        return (
            f"Channel {channel.index:04d}{name}: the case's `{{case_id}}_{channel.index:04d}` "
            f"image in imagesTr/ or imagesTs/"
        )
    listed = ", ".join(f"{c.index} {c.name}" for c in channels)
    inside = f"; channels along the 4th dimension: {listed}" if len(channels) > 1 else ""
    single = f" ({channels[0].name})" if len(channels) == 1 else ""
    return f"The case's image{single}, `{{case_id}}` in imagesTr/ or imagesTs/{inside}"


def _label_words(info: SegmentationInfo) -> str:
    labels = f" ({info.label_words()})" if info.labels else ""
    return (
        f"Segmentation labels{labels}, voxel by voxel on the image's grid, `{{case_id}}` in "
        f"labelsTr/ or labelsTs/; null for a case without labels (test cases)"
    )


def case_row(case: Case, root: str, headers: dict[str, NiftiHeader]) -> tuple[Any, ...]:
    """``(case_id, *images, label, shape, voxel_sizes)``: files that failed their check are
    absent (None), as missing ones are."""
    images = tuple(listed_ref(root, e) if e and e.rel in headers else None for e in case.images)
    label = listed_ref(root, case.label) if case.label and case.label.rel in headers else None
    first = next((headers[e.rel] for e in case.images if e and e.rel in headers), None)
    shape = list(first.shape) if first else None
    voxels = [float(v) for v in first.voxel_sizes] if first else None
    return (case.case_id, *images, label, shape, voxels)


def geometry_warnings(cases: Sequence[Case], headers: dict[str, NiftiHeader]) -> list[Problem]:
    """A case whose channels or label are not on one voxel grid (shape) cannot be trained on as
    it is: said once per case, naming the file that differs."""
    found = []
    for case in cases:
        files = [e for e in (*case.images, case.label) if e is not None and e.rel in headers]
        if len(files) < 2:
            continue
        reference = headers[files[0].rel].shape[:3]
        for entry in files[1:]:
            shape = headers[entry.rel].shape[:3]
            if shape != reference:
                message = (
                    f"case {case.case_id}: spatial shape {list(shape)} differs from "
                    f"{list(reference)} of {files[0].rel}"
                )
                found.append(Problem(entry.rel, message, "warning"))
                break
    return found


def sorted_problems(*groups: Sequence[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted((p for g in groups for p in g), key=lambda p: p.path))
