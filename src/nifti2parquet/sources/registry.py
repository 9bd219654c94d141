"""The kinds of source nifti2parquet reads, tried in order (as nibabel tries its image classes).

Each kind is one package that says whether it recognises SOURCE and reads it into rows; what
differs between kinds travels as fields of those rows, so no other stage names a kind. Adding one
is its package plus one line in :data:`KINDS`. A kind's package only declares it (its ``KIND``):
its reader, and what the reader needs (a schema, header checks, pyarrow's readers), is imported
when the kind is used, and its path rules (``path_reason``) when a selection asks for them, so
``export --subject`` imports the path rules of every kind and nothing else of any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..common.rows import SourceRows
    from ..common.selection import Selection
    from ..common.storage import Storage
    from .options import SourceOptions

# Why a file of a built dataset, named by its path in the dataset, is not in a selection ("" when
# it is): how ``export`` and the lazy reader select files without reading the source again.
PathReason = Callable[[str], str]


@dataclass(frozen=True)
class SourceKind:
    """One kind of source: how to recognise it, and how to read it into rows."""

    name: str  # as recorded ("table", "bids")
    noun: str  # how a summary names one: "table", "BIDS dataset"
    label: str  # how a message explains it: "a table of files (.csv, .tsv...)"
    recognises: Callable[[str, Storage], bool]  # cheap: a name, a marker file
    read: Callable[[str, SourceOptions], SourceRows]
    is_file: bool = False  # SOURCE is one file (a table), not a folder
    # The filters this kind's paths answer to, read from a path alone (None: it has none)
    path_reason: Callable[[Selection], PathReason] | None = None


def _kinds() -> list[SourceKind]:
    from . import bids, segmentation, table

    return [table.KIND, bids.KIND, segmentation.KIND]


KINDS: list[SourceKind] = _kinds()


def register(kind: SourceKind, first: bool = False) -> None:
    """Add a kind: tried last (or first). A kind's name is unique."""
    unregister(kind.name)
    KINDS.insert(0 if first else len(KINDS), kind)


def unregister(name: str) -> None:
    KINDS[:] = [k for k in KINDS if k.name != name]


def recognise(source: str, storage: Storage) -> SourceKind | None:
    """The first kind that recognises SOURCE, or None."""
    return next((k for k in KINDS if k.recognises(source, storage)), None)


def labels() -> str:
    """Every kind, for a message: "a table of files (...), or a BIDS dataset (...)"."""
    names = [k.label for k in KINDS]
    return ", ".join(names[:-1]) + (f", or {names[-1]}" if len(names) > 1 else names[0])


def noun_of(name: str) -> str:
    return next((k.noun for k in KINDS if k.name == name), name)
