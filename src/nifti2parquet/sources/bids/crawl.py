"""Listing a BIDS tree and reading its small files, the same way for local folders and URLs.

The whole tree becomes one flat listing of :class:`Entry` (path relative to the root, size,
version): locally from ``os.scandir``, remotely from ONE recursive ``fs.find(root, detail=True)``
(an object store returns sizes and ETags in the listing, so no file is stat'ed on its own). Small
files (JSON sidecars, TSV tables, bval/bvec) are then read concurrently: one ``fs.cat`` call for a
list of paths remotely, a thread pool locally. Folders whose name starts with a dot are not listed
at all: in a DataLad dataset ``.git/annex`` holds the very content the symlinks point to.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ...common.batched import map_batched
from ...common.dataset_folder import (
    BUILD_MARKER,
    build_folder,
    version_control,
    version_control_folder,
)
from ...common.errors import Problem, cannot_read
from ...common.file_stat import ANNEX_HINT, stat_file
from ...common.rows import FileRef, FileUnder
from ...common.storage import Storage, info_size_version, is_remote, join, local_path, readable_name


class Entry(FileUnder):
    """One file found under the root, and its reference in the rows (:func:`listed_ref`): one
    object per file, not an entry and then a reference (a tree has a million files).

    ``rel``: relative to the root, with '/' separators (readable: see ``on_disk``); ``stamp``:
    the version, or a local file's mtime in ns (see ``version``); ``problem``: why its content
    cannot be read (broken symlink, ...), empty when it can; ``raw``: the name on disk when it
    is not valid UTF-8 (``rel`` is then its Latin-1 text); ``prefix``: the root's, as
    :func:`root_prefix` makes it ("" when unknown: the reference is then made anew).
    The rare file with a problem or a raw name is an :class:`_OddEntry`, with two slots more.
    """

    __slots__ = ()
    problem = ""
    raw = ""

    def __new__(  # type: ignore[misc]
        cls, rel: str = "", size: int = 0, stamp: str | int = "", problem: str = "",
        raw: str = "", prefix: str = "", **fields: Any,
    ) -> FileRef:  # fmt: skip
        if fields:  # ``dataclasses.replace`` of the reference: a plain FileRef
            return FileRef(**fields)
        if (problem or raw) and cls is Entry:
            return object.__new__(_OddEntry)
        return object.__new__(cls)

    def __init__(
        self, rel: str, size: int, stamp: str | int, problem: str = "", raw: str = "",
        prefix: str = "",
    ) -> None:  # fmt: skip
        super().__init__(prefix, size, rel, stamp)
        if problem or raw:
            object.__setattr__(self, "problem", problem)
            object.__setattr__(self, "raw", raw)

    @property
    def rel(self) -> str:
        return self.name

    @property
    def on_disk(self) -> str:
        """The relative path to open the file with."""
        return self.raw or self.name

    def __repr__(self) -> str:
        return f"Entry({self.rel!r}, {self.size}, {self.stamp!r}, {self.problem!r}, {self.raw!r})"


class _OddEntry(Entry):
    """A file that cannot be read, or whose name on disk is not its stored one."""

    __slots__ = ("problem", "raw")


def file_url(root: str, rel: str) -> str:
    if is_remote(root):
        return root.rstrip("/") + "/" + rel
    return join(root, rel)


@lru_cache(maxsize=16)
def root_prefix(root: str) -> str:
    """What ``file_url`` puts before a listed path, one string per root: ``/data/ds/``."""
    return file_url(root, "x")[:-1]


def listed_ref(root: str, entry: Entry) -> FileRef:
    """The reference of a listed file, stored under its path relative to the root (so the
    tree comes back from the shards alone, ``export``): a :class:`FileUnder` (the root's
    prefix shared, the url joined when asked) unless its name on disk is not its stored one."""
    if not entry.raw:
        prefix = root_prefix(root)
        if entry.prefix == prefix and type(entry) is Entry:
            return entry  # the listing's entry is the reference
        return FileUnder(prefix, entry.size, entry.rel, entry.stamp)
    return FileRef(file_url(root, entry.on_disk), entry.size, entry.rel, entry.rel, entry.version)


@dataclass(frozen=True)
class Listing:
    """Every file under a root, sorted by relative path, and the folders that were not read."""

    entries: list[Entry]
    skipped: tuple[Problem, ...] = ()  # version control, nifti2parquet builds: each once


def list_tree(root: str, storage: Storage, wanted: Callable[[str], bool]) -> Listing:
    """Every file under ``root`` whose name ``wanted`` accepts, sorted by relative path."""
    if is_remote(root):
        entries, skipped = _list_remote(root, storage, wanted)
    else:
        entries, skipped = _list_local(root, wanted, root_prefix(root))
    by_path = sorted(skipped, key=lambda p: p.path)
    entries.sort(key=lambda e: e.rel)  # in place: not a second list of every file
    return Listing(entries, tuple(by_path))


def _list_local(
    root: str, wanted: Callable[[str], bool], prefix: str
) -> tuple[list[Entry], list[Problem]]:
    base = os.path.abspath(local_path(root))
    entries: list[Entry] = []
    skipped: list[Problem] = []
    seen: set[tuple[int, int]] = set()  # folders already walked (symlink loops)
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        folder = os.path.join(base, rel_dir)
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                items = list(it)
        except OSError:
            continue  # an unreadable folder: nothing under it can be listed
        if rel_dir and any(i.name == BUILD_MARKER for i in items):
            skipped.append(build_folder(rel_dir))  # an OUTPUT_DIR: none of it is the dataset's
            continue
        for item in items:
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            if version_control(item.name):
                skipped.append(version_control_folder(rel))
            elif item.name == BUILD_MARKER:
                skipped.append(build_folder(rel_dir))
            elif _is_folder(item):
                stack.append(rel)
            elif wanted(item.name):
                entries.append(_local_entry(base, rel, item, prefix))
    return entries, skipped


def _is_folder(item: os.DirEntry) -> bool:
    try:
        return item.is_dir()  # follows symlinks; a broken symlink is not a folder
    except OSError:
        return False


def _local_entry(base: str, rel: str, item: os.DirEntry, prefix: str) -> Entry:
    readable, renamed = readable_name(rel)
    raw = rel if renamed else ""
    try:  # the listing's own entry: one stat per file, the version as ``Storage.stat`` makes it
        st = item.stat()
        if not stat.S_ISDIR(st.st_mode):
            return Entry(readable, st.st_size, st.st_mtime_ns, "", raw, prefix)
    except OSError:
        pass  # said the way every source says it, below
    result = stat_file(os.path.join(base, rel), Storage())
    return Entry(readable, result.size, result.version, result.problem, raw, prefix)


def _list_remote(
    root: str, storage: Storage, wanted: Callable[[str], bool]
) -> tuple[list[Entry], list[Problem]]:
    fs, path = storage.filesystem(root)
    base = path.rstrip("/")
    found = fs.find(base, detail=True, withdirs=False)
    files = {
        full[len(base) + 1 :]: info
        for full, info in found.items()
        if info.get("type") != "directory" and full.startswith(base + "/")
    }
    builds, controlled = _skipped_remote(files)
    skipped = [build_folder(b) for b in sorted(builds)]
    skipped += [version_control_folder(v) for v in sorted(controlled)]
    entries = []
    prefix = root_prefix(root)
    for rel, info in files.items():
        parts = rel.split("/")
        if _under(parts, builds, controlled) or not wanted(parts[-1]):
            continue
        size, version = info_size_version(info)
        entries.append(Entry(rel, size, version, prefix=prefix))
    return entries, skipped


def _skipped_remote(rels: Iterable[str]) -> tuple[set[str], set[str]]:
    """The folders holding a build (the root's own state folder as ""), and the outermost
    version-control folders, from a flat listing."""
    builds: set[str] = set()
    controlled: set[str] = set()
    for rel in rels:
        parts = rel.split("/")
        for i, part in enumerate(parts):
            if part == BUILD_MARKER and i < len(parts) - 1:
                builds.add("/".join(parts[:i]))
                break
            if version_control(part):
                controlled.add("/".join(parts[: i + 1]))
                break
    return builds, controlled


def _under(parts: list[str], builds: set[str], controlled: set[str]) -> bool:
    for i in range(len(parts)):
        prefix = "/".join(parts[:i])
        if (i and prefix in builds) or "/".join(parts[: i + 1]) in controlled:
            return True
    return parts[0] == BUILD_MARKER


def read_small_files(
    root: str, entries: Iterable[Entry], storage: Storage, threads: int = 16
) -> dict[str, bytes | str]:
    """The bytes of each file, or a string saying why it could not be read."""
    entries = list(entries)
    out: dict[str, bytes | str] = {e.rel: e.problem for e in entries if e.problem}
    todo = [e for e in entries if not e.problem]
    if not todo:
        return out
    if is_remote(root):
        out.update(_cat_remote(root, [e.rel for e in todo], storage))
        return out
    contents = map_batched(
        lambda e: _read_local(root, e.on_disk, storage), todo, threads, "n2p-bids-read"
    )
    out.update(zip([e.rel for e in todo], contents))
    return out


def _read_local(root: str, rel: str, storage: Storage) -> bytes | str:
    try:
        return storage.read(join(root, rel))
    except FileNotFoundError:
        return f"missing file; if it is a git-annex file, {ANNEX_HINT}"
    except OSError as exc:
        return cannot_read(exc)


def _cat_remote(root: str, rels: list[str], storage: Storage) -> dict[str, bytes | str]:
    fs, path = storage.filesystem(root)
    base = path.rstrip("/")
    paths = {f"{base}/{rel}": rel for rel in rels}
    data = fs.cat(list(paths), on_error="return")
    if not isinstance(data, dict):  # a single path gives bytes, not a dict
        data = {next(iter(paths)): data}
    out: dict[str, bytes | str] = {}
    for full, rel in paths.items():
        value = data.get(full, data.get(fs._strip_protocol(full)))
        if isinstance(value, (bytes, bytearray)):
            out[rel] = bytes(value)
        else:
            out[rel] = f"cannot read: {value}"
    return out
