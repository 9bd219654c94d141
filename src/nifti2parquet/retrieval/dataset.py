"""A built dataset opened for reading back: a local OUTPUT_DIR or a Hub repo, the split, and the
files a selection keeps (``export`` and the lazy reader both start here).

From the Hub, the repo's listing is the first request, sent before anything it does not need is
imported: the readers of the index (pyarrow, the sources' path rules) are imported while it
travels (:func:`import_readers`), so a short export does not pay their import and the round trip
one after the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..common.errors import OptionError
from ..common.progress import Reporter
from ..common.selection import Selection
from ..hub.repo_id import is_repo_id
from .ranges import LocalStore, RangeFile, RequestCounter, ShardStore

if TYPE_CHECKING:
    from .catalog import Catalog, DatasetFile
    from .pagereads import PageFetch


@dataclass(frozen=True)
class ExportOptions:
    """Which files, from which split and revision, and how many reads at once."""

    selection: Selection = field(default_factory=Selection)  # which files (default: all)
    split: str | None = None  # None: the only split there is
    revision: str | None = None  # Hub sources: branch, tag or commit (default: main)
    token: str | None = None  # Hub sources: default HF_TOKEN or the saved login
    threads: int = 8  # reads at once (HTTP requests from the Hub)

    @property
    def filtered(self) -> bool:
        return bool(self.selection)


@dataclass(frozen=True)
class BuiltDataset:
    """A built dataset opened for reading: where its shards are (a local folder or a Hub repo
    pinned to one commit), the split read, and a counter of every read."""

    store: ShardStore
    split: str
    counter: RequestCounter = field(default_factory=RequestCounter)
    commit: str | None = None

    def stream(self, file: DatasetFile) -> Iterator[bytes]:
        """The file's bytes in pieces, read from its page (one request when the page holds
        little else; else its value's exact range)."""
        from .pagereads import PageFetch, plan_reads

        (read,) = plan_reads([file], remote=False)
        return PageFetch(read, self.store, self.counter).pieces()

    def fetches(
        self, files: Sequence[DatasetFile], held: Mapping[str, RangeFile]
    ) -> list[PageFetch]:
        """The reads that fetch ``files``, pages close together in one request when remote,
        none for bytes ``held`` from reading the index."""
        from .pagereads import fetches, held_by, plan_reads

        reads = plan_reads(files, self.store.remote, held_by(held))
        return fetches(reads, self.store, self.counter, held)


def open_built_dataset(source: str, options: ExportOptions) -> BuiltDataset:
    """A local OUTPUT_DIR, or a Hub dataset repo id (``user/name``) when no such folder exists."""
    if os.path.isdir(source):
        if options.revision:
            raise OptionError(f"--revision {options.revision}: only for a Hub repo, not a folder")
        from .catalog import choose_split

        store: ShardStore = LocalStore(source)
        return BuiltDataset(store, choose_split(store, options.split))
    if os.path.exists(source) or not is_repo_id(source):
        raise OptionError(
            f"{source}: not a built dataset folder, nor a Hub dataset repo id (user/name)"
        )
    refuse_local_prefix(source)
    from ..hub.client import check_hub_access
    from .hub_store import HubStore

    check_hub_access(options.token, need_token=False, what="export", reach=False)

    hub = HubStore(source, options.revision, options.token)
    hub.wait_sending()  # then, while the listing travels:
    import_readers(options)
    from .catalog import choose_split

    return BuiltDataset(hub, choose_split(hub, options.split), commit=hub.commit)


def import_readers(options: ExportOptions) -> None:
    """Import what reading the index and the pages takes (with a selection, the sources' path
    rules too): done while the listing travels."""
    from . import catalog, pagereads, restore  # noqa: F401

    if options.filtered:
        from .. import sources  # noqa: F401


def read_index(src: BuiltDataset, options: ExportOptions, reporter: Reporter) -> Catalog:
    """The dataset's files that the filters keep, each with where its bytes are."""
    from .catalog import read_catalog
    from .references import check_selects_something, selector

    reporter.step(f"reading the index of {src.store.where}")
    keep = selector(options.selection) if options.filtered else None
    catalog = read_catalog(src.store, src.split, src.counter, options.threads, keep)
    if options.filtered:
        check_selects_something(src.store.where, (f.path for f in catalog.files), options.selection)
    return catalog


def refuse_local_prefix(source: str) -> None:
    """``out/ds0001`` with a folder ``out/`` here is a mistyped path, not a Hub repo id."""
    first = source.split("/", 1)[0]
    if os.path.isdir(first):
        raise OptionError(
            f"{source}: no such folder (but {first}/ is here: this names a local path, not a Hub "
            f"repo id); give the folder of a built dataset"
        )
