"""A built dataset's index, read from its shards by byte ranges: every file, where its bytes are.

The ``files`` config lists every file of the dataset (path, size, sha256, and whether its bytes
are in its own ``content`` or in an image row under ``data/``). The catalog reads that list and,
from each image shard, the ``path`` of every image: together they give, for each file, the one
page to read. Only footers and small columns are read here, never an image or a file's bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..common.errors import InputError
from ..common.files_config import FILES_CONFIG, INDEX_COLUMNS, STORED_HERE, STORED_IN_ROWS
from .ranges import Counter, ShardStore, StoredFile
from .readback import Location, ShardIndex, open_shard, path_locations

DATA = "data"
SHARD_NAME = re.compile(r"^(?P<split>.+)-\d{5}-of-\d{5}\.parquet$")


@dataclass(frozen=True)
class DatasetFile:
    """One file of the dataset: its relative path, size, sha256 and where its bytes are."""

    path: str
    size: int
    sha256: str
    location: Location


@dataclass(frozen=True)
class Catalog:
    """Every file of one split of a built dataset, in path order."""

    where: str
    split: str
    files: tuple[DatasetFile, ...]  # those selected
    files_total: int  # every file the dataset lists
    shards_read: int  # shards whose footer and small columns were read


def splits(store: ShardStore) -> list[str]:
    """The splits that have a ``files`` config, in name order."""
    found = {m["split"] for f in store.list(FILES_CONFIG) if (m := _match(f.path))}
    return sorted(found)


def _match(path: str) -> re.Match[str] | None:
    return SHARD_NAME.match(path.rsplit("/", 1)[-1])


def choose_split(store: ShardStore, split: str | None) -> str:
    """The split to read: the one asked for, or the only one there is."""
    found = splits(store)
    if not found:
        raise InputError(
            f"{store.where}: no {FILES_CONFIG}/ shards: not a dataset built by nifti2parquet "
            f"with its {FILES_CONFIG} config (build it again with this version)"
        )
    if split is None:
        if len(found) > 1:
            raise InputError(
                f"{store.where}: several splits ({', '.join(found)}); choose one with --split"
            )
        return found[0]
    if split not in found:
        raise InputError(f"{store.where}: no split {split!r} (found: {', '.join(found)})")
    return split


def split_shards(store: ShardStore, folder: str, split: str) -> list[StoredFile]:
    return [f for f in store.list(folder) if (m := _match(f.path)) and m["split"] == split]


def read_catalog(
    store: ShardStore,
    split: str,
    counter: Counter,
    threads: int = 8,
    keep: Callable[[str], bool] | None = None,
) -> Catalog:
    """The dataset's files (those ``keep(path)`` selects), each with the location of its bytes.

    Reads the footer and small columns of every shard of the split, ``threads`` at a time.
    """
    files_shards = split_shards(store, FILES_CONFIG, split)
    data_shards = split_shards(store, DATA, split)
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-index") as pool:
        indexes = list(pool.map(lambda s: _index(store, s, counter, INDEX_COLUMNS), files_shards))
        images = list(pool.map(lambda s: _index(store, s, counter, None), data_shards))
    in_rows: dict[str, Location] = {}
    for index in images:
        for path, location in path_locations(index):
            in_rows.setdefault(path, location)
    files, total = [], 0
    for index in indexes:
        found, listed = _files(store.where, index, in_rows, keep)
        files += found
        total += listed
    files.sort(key=lambda f: f.path)
    shards = len(files_shards) + len(data_shards)
    return Catalog(store.where, split, tuple(files), total, shards)


def _index(
    store: ShardStore, shard: StoredFile, counter: Counter, columns: Sequence[str] | None
) -> ShardIndex:
    """``columns``: these top-level columns; None: the ``path`` of every image."""
    wanted = None if columns is None else columns.__contains__
    try:
        return open_shard(store, shard, counter, wanted)
    except (ValueError, IndexError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"{store.where}/{shard.path}: cannot read this shard's index: {reason}"
        ) from exc


def _files(
    where: str,
    index: ShardIndex,
    in_rows: dict[str, Location],
    keep: Callable[[str], bool] | None,
) -> tuple[list[DatasetFile], int]:
    """The files of one ``files`` shard that ``keep`` selects, and how many it lists."""
    found, listed = [], 0
    for g, table in enumerate(index.groups):
        missing = [c for c in INDEX_COLUMNS if c not in table.column_names]
        if missing or "content" not in index.blobs[g]:
            raise InputError(
                f"{where}/{index.shard.path}: not a {FILES_CONFIG} shard (no "
                f"{', '.join(missing) or 'content'} column)"
            )
        columns = [table.column(c).to_pylist() for c in INDEX_COLUMNS]
        listed += table.num_rows
        for row, (path, size, sha256, stored) in enumerate(zip(*columns)):
            if keep is not None and not keep(path):
                continue
            if stored == STORED_HERE:
                location = Location(index.shard.path, g, index.blobs[g]["content"], row, 0)
            elif stored == STORED_IN_ROWS and path in in_rows:
                location = in_rows[path]
            else:
                raise InputError(
                    f"{where}: {path}: listed in the {FILES_CONFIG} config as stored in "
                    f"{stored!r}, but no image row holds it"
                )
            found.append(DatasetFile(path, size, sha256, location))
    return found, listed
