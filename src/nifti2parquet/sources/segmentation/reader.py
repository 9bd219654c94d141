"""Reading a segmentation dataset into rows: the steps of the package's docstring, in order.

Imported when a segmentation source is recognised or read (the package only declares the kind).
"""

from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING

from ...common.errors import InputError, OptionError, Problem
from ...common.exclusions import without_excluded
from ...common.rows import DatasetInfo, SourceRows
from ...common.segmentation import SegmentationInfo
from ...common.selection import FILTERS
from ...common.storage import is_remote, join, local_path
from ..bids.crawl import list_tree, listed_ref, read_small_files
from . import KIND
from .cases import CaseFiles, find_layout, sort_cases
from .columns import (
    build_columns,
    case_row,
    channel_columns,
    check_headers,
    geometry_warnings,
    sorted_problems,
)
from .description import DESCRIPTION, Description, read_description
from .names import SPLITS

if TYPE_CHECKING:
    from ...common.storage import Storage
    from ..options import SourceOptions

__all__ = ["is_segmentation_folder", "read_segmentation_source"]


def read_segmentation_source(source: str, options: SourceOptions) -> SourceRows:
    """Read the split ``options.split`` of the segmentation dataset at ``source``."""
    _check_options(options)
    root = _root(source)
    entries = list_tree(root, options.storage, lambda name: True).entries
    by_rel = {e.rel: e for e in entries}
    if DESCRIPTION not in by_rel:
        raise InputError(f"{source}: no {DESCRIPTION}")
    contents = read_small_files(root, [by_rel[DESCRIPTION]], options.storage)
    contents = without_excluded(contents, options.exclude_fields, ())  # as it is published
    description = read_description(contents.get(DESCRIPTION), source)
    layout = find_layout(description, entries)
    files = sort_cases(entries, description, layout, options.split, options.selection.cases)
    if not files.cases:
        raise InputError(
            f"{source}: no case to build in {SPLITS[options.split].images}/ (split "
            f"{options.split!r}; {len(entries):,} files found)",
            [p for p in files.left_out if p.severity == "error"],
        )
    checked = check_headers(root, files.cases, options.storage, options.threads)
    info = _info(source, description, files)
    assert info.segmentation is not None
    rows = tuple(case_row(case, root, checked.headers) for case in files.cases)
    warnings = [*description.warnings, *files.notes, *checked.warnings]
    warnings += geometry_warnings(files.cases, checked.headers)
    left_out = sorted_problems(files.left_out, checked.errors)
    return SourceRows(
        source=source,
        kind=KIND.name,
        columns=build_columns(info.segmentation, layout),
        rows=rows,
        info=info,
        files_found=_files_found(rows, files, left_out),
        left_out=left_out,
        warnings=tuple(warnings),
        checked="cheap",
        each_file_once=True,
        other_files=tuple(listed_ref(root, e) for e in files.others),
    )


def _check_options(options: SourceOptions) -> None:
    """A segmentation dataset's rows are cases, and its splits are its folders."""
    if options.split not in SPLITS:
        folders = ", ".join(f"{name} ({f.images}/)" for name, f in SPLITS.items())
        raise OptionError(
            f"--split {options.split}: a segmentation dataset's splits are its folders: {folders}"
        )
    if options.rows != "auto":
        raise OptionError(f"--rows {options.rows}: a segmentation dataset has one row per case")
    for f in FILTERS:
        if f.field != "cases" and getattr(options.selection, f.field):
            raise OptionError(
                f"{f.flag}: not a filter of a segmentation dataset (its rows are cases: select "
                f"them with --case)"
            )


def _info(source: str, description: Description, files: CaseFiles) -> DatasetInfo:
    """The dataset's own words (name, description, reference, licence, release) and what it says
    of its channels and labels."""
    channels = channel_columns(files.layout, description)
    segmentation = SegmentationInfo(
        layout=files.layout.name,
        channels=channels,
        labels=description.labels,
        channels_in_one_file=not files.layout.per_channel,
        regions_class_order=description.regions_class_order,
        tensor_image_size=description.tensor_image_size,
        file_ending=description.file_ending,
        num_training=description.num_training,
        num_test=description.num_test,
    )
    return DatasetInfo(
        title=description.name or posixpath.basename(_root(source).rstrip("/")),
        license=description.license,
        description=description.description,
        references=(description.reference,) if description.reference else (),
        layout="case",
        release=description.release,
        segmentation=segmentation,
    )


def _files_found(rows: tuple, files: CaseFiles, left_out: tuple[Problem, ...]) -> int:
    """Every file of this split the source names: in a row, another file, or left out (a file
    that failed its check, or is missing: the dataset names it)."""
    in_rows = sum(1 for row in rows for cell in row[1:-2] if cell is not None)
    return in_rows + len(files.others) + len(left_out)


def _root(source: str) -> str:
    if is_remote(source):
        return source.rstrip("/")
    return os.path.abspath(local_path(source))


def is_segmentation_folder(source: str, storage: Storage) -> bool:
    """A folder with ``dataset.json`` and ``imagesTr/`` or ``imagesTs/``."""
    marker = join(source, DESCRIPTION)
    folders = [join(source, f.images) for f in SPLITS.values()]
    if not is_remote(source):
        return os.path.isfile(local_path(marker)) and any(
            os.path.isdir(local_path(f)) for f in folders
        )
    fs, path = storage.filesystem(marker)
    return bool(fs.exists(path)) and any(fs.isdir(storage.filesystem(f)[1]) for f in folders)
