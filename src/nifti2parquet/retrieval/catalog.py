"""A built dataset's index, read from its shards by byte ranges: every file, where its bytes are.

The ``files`` config lists every file of the dataset (path, size, sha256, and whether its bytes
are in its own ``content`` or in an image row under ``data/``). The catalog reads that list and,
from each image shard, the ``path`` of every image: together they give, for each file, the one
page to read. Only footers and small columns are read here, never an image or a file's bytes.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..common.errors import InputError
from ..common.files_index import (
    FILES_CONFIG,
    INDEX_COLUMNS,
    PLACE_COLUMNS,
    REFERENCES,
    STORED_HERE,
    STORED_IN_ROWS,
)
from .ranges import RangeFile, RequestCounter, ShardStore, StoredFile, TailGuess
from .readback import (
    Location,
    ShardFooter,
    column_requests,
    path_locations,
    read_columns,
    read_footer,
)
from .references import wanted_leaf, with_references

DATA = "data"
SHARD_NAME = re.compile(r"^(?P<split>.+)-\d{5}-of-\d{5}\.parquet$")


@dataclass(frozen=True)
class DatasetFile:
    """One file of the dataset: its relative path, size, sha256 and where its bytes are."""

    path: str
    size: int
    sha256: str
    location: Location = field(repr=False)  # page records: not for reading


@dataclass(frozen=True)
class Catalog:
    """Every file of one split of a built dataset, in path order."""

    where: str
    split: str
    files: tuple[DatasetFile, ...]  # those selected
    files_total: int  # every file the dataset lists
    shards_read: int  # shards whose footer and small columns were read
    shards_total: int  # every shard of the split
    held: Mapping[str, RangeFile] = field(default_factory=dict, repr=False, compare=False)
    # what was read of the shards holding selected files: pages there need no other request
    referenced: int = 0  # files selected only because a selected file names them


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


HOLD = 64 << 20  # bytes read for the index kept for the pages they hold, at most this much
# Seconds the config may take to say which image shards hold the selection before the first
# image shards' ends are read too, on a guess: a nearby server (loopback, a local network)
# answers first and no end it does not need is read; from a distant one (50 ms a request, two
# with the Hub's redirect) the guess saves most of a round trip.
GUESS_AFTER = 0.02


def read_catalog(
    store: ShardStore,
    split: str,
    counter: RequestCounter,
    threads: int = 8,
    keep: Callable[[str], bool] | None = None,
) -> Catalog:
    """The dataset's files (those ``keep(path)`` selects), each with the location of its bytes.

    The reads, ``threads`` requests at a time: the end of every ``files`` shard (footer and page
    indexes, one request each as a rule) with its index columns as soon as its footer is there,
    and meanwhile, if the config has not answered within ``GUESS_AFTER``, the ends of the first
    ``threads`` image shards. The config says where each image is (shard, row, column): then
    only the ends of the image shards holding a selected image are read, so a subject of a
    dataset of hundreds of shards reads its own and at most ``threads`` more (a whole export
    reads every end at once). A config built before it said is
    read once more: in the image shards, the ``path`` of the images, only in the row groups
    whose path statistics (in the footer) can hold a selected image.
    """
    files_shards = split_shards(store, FILES_CONFIG, split)
    data_shards = split_shards(store, DATA, split)
    guess = TailGuess() if store.remote else None

    def footer(shard: StoredFile) -> ShardFooter:
        return _footer(store, shard, counter, guess)

    listed_yet = threading.Event()

    def guessed(shard: StoredFile) -> ShardFooter | None:
        """The end of a shard the config may not need, read only if it is slow to say."""
        return None if listed_yet.wait(GUESS_AFTER) else footer(shard)

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-index") as pool:
        listings = [
            pool.submit(lambda s: _listing(store.where, footer(s)), s) for s in files_shards
        ]
        early = data_shards if keep is None else data_shards[:threads]  # while the config loads
        data_footers = {s.path: pool.submit(guessed if keep else footer, s) for s in early}
        try:
            listed = [row for job in listings for row in job.result()[1]]
        finally:
            listed_yet.set()
        chosen = [row for row in listed if keep is None or keep(row[0])]
        selected = with_references(listed, chosen) if keep is not None else chosen
        needed = _shards_holding(selected, [s.path for s in data_shards])
        for path, job in data_footers.items():
            if path not in needed:
                job.cancel()  # not begun yet: not read
        for s in data_shards:
            if s.path in needed and (s.path not in data_footers or _declined(data_footers[s.path])):
                data_footers[s.path] = pool.submit(footer, s)
        footers = [data_footers[s.path].result() for s in data_shards if s.path in needed]
        read = [j for j in data_footers.values() if not j.cancelled() and not _declined(j)]
        skipped = len(data_shards) - len(read)
        placed = _placed(store.where, footers, selected)
        unplaced = {row[0] for row in selected if row[3] == STORED_IN_ROWS} - placed.keys()
        locations = placed | _images(store.where, footers, sorted(unplaced), pool)
    files = sorted((_file(store.where, row, locations) for row in selected), key=lambda f: f.path)
    held = _held([job.result()[0] for job in listings] + footers, files)
    shards = len(listings) + len(data_shards)
    referenced = len(selected) - len(chosen)
    return Catalog(
        store.where, split, tuple(files), len(listed), shards - skipped, shards, held, referenced
    )


def _declined(job: Future[ShardFooter | None]) -> bool:
    """A guessed read that did not happen: the config answered first (waits for the answer)."""
    return job.exception() is None and job.result() is None


def _shards_holding(selected: list[Row], shards: Iterable[str]) -> set[str]:
    """The image shards whose ends the ``selected`` files need: those the config places a
    selected image in, or all of them when it does not say for one."""
    images = [row for row in selected if row[3] == STORED_IN_ROWS]
    if any(row[5] is None for row in images):
        return set(shards)
    return {row[5][0] for row in images}


def _footer(
    store: ShardStore, shard: StoredFile, counter: RequestCounter, guess: TailGuess | None
) -> ShardFooter:
    try:
        return read_footer(store, shard, counter, guess)
    except (ValueError, IndexError, OSError) as exc:
        raise _unreadable(store.where, shard, exc) from exc


def _unreadable(where: str, shard: StoredFile, exc: Exception) -> InputError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return InputError(f"{where}/{shard.path}: cannot read this shard's index: {reason}")


Place = tuple[str, int, str, "int | None"]  # an image's shard, row there, column, list position
Row = tuple[str, int, str, str, "Location | None", "Place | None", "list[str] | None"]


def _listing(where: str, footer: ShardFooter) -> tuple[ShardFooter, list[Row]]:
    """Every file a ``files`` shard lists: path, size, sha256, stored, where its bytes are
    when they are in its own ``content``, for an image its place in ``data/`` (None before
    those columns), and the files it names (None before that column)."""

    def small(leaf: str) -> bool:
        return leaf in INDEX_COLUMNS or leaf in PLACE_COLUMNS or wanted_leaf(leaf)

    try:
        index = read_columns(footer, small)
    except (ValueError, IndexError, OSError) as exc:
        raise _unreadable(where, footer.shard, exc) from exc
    rows: list[Row] = []
    for g, table in enumerate(index.groups):
        missing = [c for c in INDEX_COLUMNS if c not in table.column_names]
        if missing or "content" not in index.blobs[g]:
            raise InputError(
                f"{where}/{index.shard.path}: not a {FILES_CONFIG} shard (no "
                f"{', '.join(missing) or 'content'} column)"
            )
        columns = [table.column(c).to_pylist() for c in INDEX_COLUMNS]
        named = table.column(REFERENCES).to_pylist() if REFERENCES in table.column_names else None
        content = index.blobs[g]["content"]
        places = _places(table)
        for row, (path, size, sha256, stored) in enumerate(zip(*columns)):
            here = Location(index.shard.path, g, content, row, 0) if stored == STORED_HERE else None
            place = places[row] if places and places[row][0] is not None else None
            rows.append((path, size, sha256, stored, here, place, named[row] if named else None))
    return footer, rows


def _places(table: Any) -> list[Place] | None:
    """Each row's place in ``data/`` (all None for a file stored here); None when the config
    was written before it said."""
    if any(c not in table.column_names for c in PLACE_COLUMNS):
        return None
    return list(zip(*(table.column(c).to_pylist() for c in PLACE_COLUMNS)))


def _placed(where: str, footers: list[ShardFooter], selected: list[Row]) -> dict[str, Location]:
    """Where the selected images whose place the config gives are, from the image shards'
    footers alone: the row group holding the row, its page index for the column."""
    by_shard = {footer.shard.path: footer for footer in footers}
    found: dict[str, Location] = {}
    for path, _, _, stored, _, place, _ in selected:
        if stored != STORED_IN_ROWS or place is None:
            continue
        shard, row, column, index = place
        footer = by_shard.get(shard)
        group = bisect.bisect_right(footer.row_starts, row) - 1 if footer else -1
        leaf = footer.blobs[group].get(column) if footer and group >= 0 else None
        if (
            leaf is None
            or row >= footer.row_starts[group] + footer.metadata.row_group(group).num_rows
        ):
            raise InputError(
                f"{where}: {path}: the {FILES_CONFIG} config places it in {shard}, row {row}, "
                f"column {column!r}, which that split's image shards do not have"
            )
        found[path] = Location(shard, group, leaf, row - footer.row_starts[group], index or 0)
    return found


def _images(
    where: str, footers: list[ShardFooter], wanted: list[str], pool: ThreadPoolExecutor
) -> dict[str, Location]:
    """Where the ``wanted`` images (sorted paths) are in the image shards: the ``path`` leaves are
    read only in the row groups whose statistics can hold one of them, every shard's requests
    made at once (the page indexes of those shards are parsed meanwhile)."""
    if not wanted:
        return {}
    encoded = [path.encode() for path in wanted]

    def chooser(footer: ShardFooter) -> Callable[[int, int], bool]:
        metadata = footer.metadata

        @functools.cache
        def choose(group: int, leaf: int) -> bool:
            return _may_hold(metadata.row_group(group).column(leaf).statistics, encoded)

        return choose

    choices = [(footer, chooser(footer)) for footer in footers]
    holding = [(footer, choose) for footer, choose in choices if _any_chunk(footer, choose)]
    jobs = [(f, span) for f, choose in holding for span in column_requests(f, None, choose)]
    try:
        reads = [pool.submit(footer.source.fetch_span, span) for footer, span in jobs]
        for footer, _ in holding:
            footer.blobs  # noqa: B018 (the page indexes, parsed while the paths travel)
        for read in reads:
            read.result()
        indexes = [read_columns(f, None, choose) for f, choose in holding]
    except (ValueError, IndexError, OSError) as exc:
        raise InputError(f"{where}: cannot read the image paths of a shard: {exc}") from exc
    chosen = set(wanted)
    found: dict[str, Location] = {}
    for index in indexes:
        for path, location in path_locations(index):
            if path in chosen:
                found.setdefault(path, location)
    return found


def _any_chunk(footer: ShardFooter, choose: Callable[[int, int], bool]) -> bool:
    """Whether a shard may hold a wanted image at all (its chunks may be held already)."""
    leaves = footer.path_leaves()
    return any(choose(g, i) for g in range(footer.groups) for i in leaves)


def _may_hold(statistics: Any, wanted: list[bytes]) -> bool:
    """Whether a chunk whose min/max statistics are ``statistics`` can hold a ``wanted`` value
    (sorted UTF-8 bytes, the order Parquet compares strings in); True when it cannot be told."""
    try:
        if statistics is None:
            return True
        if not statistics.has_min_max:
            return statistics.num_values > 0
        low, high = (
            v.encode() if isinstance(v, str) else v for v in (statistics.min, statistics.max)
        )
    except Exception:  # statistics pyarrow cannot decode: read the chunk
        return True
    i = bisect.bisect_left(wanted, low)
    return i < len(wanted) and wanted[i] <= high


def _file(where: str, row: Row, locations: dict[str, Location]) -> DatasetFile:
    path, size, sha256, stored, here, _, _ = row
    if stored == STORED_HERE and here is not None:
        return DatasetFile(path, size, sha256, here)
    if stored == STORED_IN_ROWS and path in locations:
        return DatasetFile(path, size, sha256, locations[path])
    raise InputError(
        f"{where}: {path}: listed in the {FILES_CONFIG} config as stored in {stored!r}, but no "
        f"image row holds it"
    )


def _held(footers: list[ShardFooter], files: list[DatasetFile]) -> dict[str, RangeFile]:
    """The bytes read of the shards that hold selected files (small shards are often read whole
    with their footer), up to ``HOLD`` bytes in all."""
    holding = {f.location.shard for f in files}
    held: dict[str, RangeFile] = {}
    total = 0
    for footer in footers:
        size = footer.source.held_bytes
        if footer.shard.path in holding and total + size <= HOLD:
            held[footer.shard.path] = footer.source
            total += size
    return held
