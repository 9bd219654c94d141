"""Where rows come from: every kind of source in :mod:`.registry`; ``read_source`` picks one."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..common.errors import InputError
from ..common.selection import FILTERS, Selection
from ..common.storage import Storage, is_remote, local_path
from .options import SourceOptions
from .registry import KINDS, labels, recognise

if TYPE_CHECKING:
    from ..common.rows import SourceRows

__all__ = [
    "SourceOptions",
    "check_source_exists",
    "path_chooser",
    "path_selector",
    "read_source",
]


def read_source(source: str, options: SourceOptions) -> SourceRows:
    """Read SOURCE (local or remote) with the first kind of source that recognises it."""
    kind = recognise(source, options.storage)
    if kind is not None:
        return kind.read(source, options)
    if not is_remote(source) and not os.path.exists(local_path(source)):
        raise InputError(f"{source}: no such file or folder")
    raise InputError(f"{source}: not a source nifti2parquet reads; it reads {labels()}")


def check_source_exists(source: str) -> None:
    """Refuse a local SOURCE that is not there, before anything is created for it (a remote one
    is found, or not, when it is read)."""
    if is_remote(source) or os.path.exists(local_path(source)):
        return
    kind = recognise(source, Storage())
    raise InputError(f"{source}: no such {'file' if kind and kind.is_file else 'file or folder'}")


def path_selector(selection: Selection) -> Callable[[str], str]:
    """Why the file at a dataset-relative path is not in ``selection`` ("" when it is), read from
    the path as each kind of source names its files (BIDS: ``sub-<label>/``, ``_task-<label>``...;
    a segmentation dataset: ``imagesTr/<case>_0000.nii.gz``): how ``export`` and the lazy reader
    select the files of a built dataset."""
    reasons = [kind.path_reason(selection) for kind in KINDS if kind.path_reason]

    def reason(path: str) -> str:
        return next((why for why in (r(path) for r in reasons) if why), "")

    return reason


def path_chooser(selection: Selection) -> Callable[[str], bool]:
    """Whether ``selection`` chose the file at a dataset-relative path by its own labels (a
    subject's file for ``--subject``...), rather than keeping it as a file of the whole dataset
    that no filter applies to: a selection that chooses nothing is a mistake to say, not an
    empty export. A filter applies to a path when a pattern matching no label would leave the
    path out."""
    kept = path_selector(selection)
    given = [f.field for f in FILTERS if getattr(selection, f.field)]
    probes = [path_selector(Selection(**{field: (MATCHES_NOTHING,)})) for field in given]
    return lambda path: not kept(path) and any(probe(path) for probe in probes)


MATCHES_NOTHING = "\0"  # a glob no label matches
