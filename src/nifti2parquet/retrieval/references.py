"""What a filtered export takes: the files its filters select, and every file those name.

The filters (``--subject``, ``--session``...) select files by their paths, as ``build`` does
(:func:`nifti2parquet.sources.path_selector`): a subject's files, and every dataset-level file.
But a subject's files name files elsewhere in the dataset: the empty-room recording of an MEG run
(``sub-emptyroom/``), the stimuli of an events table (``stimuli/``), the images a field map
corrects. The build lists them in the ``files`` config's ``references`` column
(:mod:`nifti2parquet.sources.bids.references` says which); export adds every file a selected file
names, and what those name in turn, so the folder it writes is a valid dataset of those subjects.
The column is read with the index, so following it costs no request of its own.

A filter that selects nothing of the dataset (``--subject 99``) is an error, as in ``build``: an
export of the dataset-level files alone is never what was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..common.errors import InputError
from ..common.files_index import REFERENCES
from ..common.selection import Selection


def wanted_leaf(leaf: str) -> bool:
    """The ``references`` column's leaf (a list of strings), read beside the index columns."""
    return leaf.split(".", 1)[0] == REFERENCES


def with_references(listed: Sequence[Sequence[Any]], selected: Sequence[Sequence[Any]]) -> list:
    """``selected`` (rows of the index: path first, references last) and every listed row a
    selected one names, transitively, in ``listed`` order."""
    names = {row[0]: row[-1] or () for row in listed}
    kept = {row[0] for row in selected}
    todo = list(kept)
    while todo:
        for target in names.get(todo.pop(), ()):
            if target in names and target not in kept:
                kept.add(target)
                todo.append(target)
    return [row for row in listed if row[0] in kept]


def selector(selection: Selection) -> Callable[[str], bool]:
    """Whether the file at a dataset-relative path is kept by ``selection``, by ``build``'s rules
    (imported when asked for: an unfiltered export never needs the sources stage)."""
    from ..sources import path_selector

    left_out = path_selector(selection)
    return lambda path: not left_out(path)


def check_selects_something(where: str, kept: Iterable[str], selection: Selection) -> None:
    """Refuse a selection that chose no file by its own labels among the ``kept`` paths: only
    dataset-level files, and what they name, would be written."""
    from ..sources import path_chooser

    chosen = path_chooser(selection)
    if not any(chosen(path) for path in kept):
        raise InputError(f"{where}: {' '.join(selection.flags())} selects no file of the dataset")
