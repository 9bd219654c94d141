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
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ...common.errors import cannot_read
from ...common.file_stat import ANNEX_HINT, stat_file
from ...common.storage import Storage, info_size_version, is_remote, join, local_path, readable_name


@dataclass(frozen=True)
class Entry:
    """One file found under the root."""

    rel: str  # relative to the root, with '/' separators (readable: see ``on_disk``)
    size: int
    version: str
    problem: str = ""  # why its content cannot be read (broken symlink, ...); empty when it can
    raw: str = ""  # the name on disk when it is not valid UTF-8 (``rel`` is then its Latin-1 text)

    @property
    def on_disk(self) -> str:
        """The relative path to open the file with."""
        return self.raw or self.rel


def file_url(root: str, rel: str) -> str:
    if is_remote(root):
        return root.rstrip("/") + "/" + rel
    return join(root, rel)


def list_tree(root: str, storage: Storage, wanted: Callable[[str], bool]) -> list[Entry]:
    """Every file under ``root`` whose name ``wanted`` accepts, sorted by relative path."""
    entries = _list_remote(root, storage, wanted) if is_remote(root) else _list_local(root, wanted)
    return sorted(entries, key=lambda e: e.rel)


def _list_local(root: str, wanted: Callable[[str], bool]) -> list[Entry]:
    base = os.path.abspath(local_path(root))
    entries: list[Entry] = []
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
        for item in items:
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            if _is_folder(item):
                if not item.name.startswith("."):
                    stack.append(rel)
            elif wanted(item.name):
                entries.append(_local_entry(base, rel))
    return entries


def _is_folder(item: os.DirEntry) -> bool:
    try:
        return item.is_dir()  # follows symlinks; a broken symlink is not a folder
    except OSError:
        return False


def _local_entry(base: str, rel: str) -> Entry:
    result = stat_file(os.path.join(base, rel), Storage())
    readable, renamed = readable_name(rel)
    return Entry(readable, result.size, result.version, result.problem, rel if renamed else "")


def _list_remote(root: str, storage: Storage, wanted: Callable[[str], bool]) -> list[Entry]:
    fs, path = storage.filesystem(root)
    base = path.rstrip("/")
    found = fs.find(base, detail=True, withdirs=False)
    entries = []
    for full, info in found.items():
        if info.get("type") == "directory" or not full.startswith(base + "/"):
            continue
        rel = full[len(base) + 1 :]
        parts = rel.split("/")
        if any(p.startswith(".") for p in parts[:-1]) or not wanted(parts[-1]):
            continue
        size, version = info_size_version(info)
        entries.append(Entry(rel, size, version))
    return entries


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
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-bids-read") as pool:
        contents = pool.map(lambda e: _read_local(root, e.on_disk), todo)
        out.update(zip([e.rel for e in todo], contents))
    return out


def _read_local(root: str, rel: str) -> bytes | str:
    try:
        with open(join(root, rel), "rb") as f:
            return f.read()
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
