"""A BIDS dataset as SOURCE: every NIfTI file found is in the output exactly once, or reported.

The steps, each in its own module:

1. :mod:`.crawl` lists the tree once (``os.scandir`` locally; one recursive ``find`` remotely);
2. :mod:`.tree` sorts the files into images to build, metadata, and files left out with a reason
   (:mod:`.ignore`: default ignores and ``.bidsignore``; filters; invalid names; unreadable files);
3. the small files that matter are read concurrently (sidecars, bval/bvec, the TSV tables);
4. :mod:`.headers` runs the cheap header check on every image once (its header becomes data);
5. :mod:`.sidecars` merges each image's metadata by the inheritance principle, :mod:`.tables`
   types participants/sessions/scans tables;
6. :mod:`.layouts` lays the images out in rows (session, subject or file) with names from
   :mod:`.naming`; :mod:`.description` turns dataset_description.json into the card's info.

The BIDS rules these steps follow (entities, datatypes, suffixes, ignored folders) are read from
the BIDS schema that ``bidsschematools`` ships, by :mod:`.rules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import SourceKind

if TYPE_CHECKING:
    from ...common.rows import SourceRows
    from ...common.selection import Selection
    from ...common.storage import Storage
    from ..options import SourceOptions
    from ..registry import PathReason

__all__ = ["KIND"]


def _recognises(source: str, storage: Storage) -> bool:
    from .reader import is_bids_folder

    return is_bids_folder(source, storage)


def _read(source: str, options: SourceOptions) -> SourceRows:
    from .reader import read_bids_source

    return read_bids_source(source, options)


def _path_reason(selection: Selection) -> PathReason:
    from .filters import Filters

    return Filters(selection).other_reason


# The kind alone: what reads a dataset (schema, crawl, headers, layouts) is imported when it is
# used, so ``export --subject`` (which needs only the path rules) imports none of it
KIND = SourceKind(
    name="bids",
    noun="BIDS dataset",
    label="a BIDS dataset (a folder with dataset_description.json)",
    recognises=_recognises,
    read=_read,
    path_reason=_path_reason,
)
