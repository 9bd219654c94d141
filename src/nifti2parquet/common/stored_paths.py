"""A table source's image paths: as the table writes them, and as the dataset stores them.

A table names its images however its author's machine reaches them (``/data/lab/jsmith/t1.nii.gz``,
``../scans/t1.nii.gz``, ``~/study/t1.nii.gz``). None of that is published: every image is stored
under a relative path, from the table's folder when all the images are under it, else from the
nearest folder that holds them all; never absolute, never with ``..``, a drive letter or ``~``
(:func:`stored_paths`). The published copy of the table carries those stored paths (rewritten on
purpose, and recorded as such), so an export of the dataset is the images and their table, side by
side, at the same relative places. The build's manifest, never published, keeps the mapping from
each path as written to where it is stored (:class:`StoredPaths`): ``verify --source`` and a
rebuild find every file through the table as it is.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .storage import is_remote, local_path, readable_name


@dataclass(frozen=True)
class StoredPaths:
    """Where a table's images are stored, as the manifest records it."""

    table: str  # the table's own stored name (beside the images: its base name)
    columns: tuple[str, ...]  # its image columns, whose cells are rewritten in the copy
    paths: tuple[tuple[str, str], ...]  # (as written in the table, stored), each written once

    @property
    def changed(self) -> bool:
        """Whether any path is stored otherwise than written (the table copy is rewritten)."""
        return any(written != stored for written, stored in self.paths)

    def mapping(self) -> dict[str, str]:
        return dict(self.paths)

    def to_record(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "columns": list(self.columns),
            "paths": [{"written": w, "stored": s} for w, s in self.paths],
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> StoredPaths:
        paths = tuple((p["written"], p["stored"]) for p in data.get("paths", ()))
        return cls(data["table"], tuple(data.get("columns", ())), paths)


def stored_paths(table_folder: str, urls: Iterable[str]) -> dict[str, str]:
    """Each image URL's stored path: relative to ``table_folder`` when every image is under it,
    else to the nearest folder that holds them all (for images on different file systems or
    buckets, from the top of each, without its scheme)."""
    keys = {url: _parts(url) for url in urls}
    folder = _parts(table_folder, folder=True)
    if all(k[: len(folder)] == folder and len(k) > len(folder) for k in keys.values()):
        base = folder
    else:
        base = _common_folder(list(keys.values()))
    stored = {
        url: readable_name("/".join(k[len(base) :] if base else k[1:]))[0]
        for url, k in keys.items()
    }
    _refuse_collisions(stored)
    return stored


def _parts(url: str, folder: bool = False) -> tuple[str, ...]:
    """A path as comparable parts: its scheme (or "" locally) first, no ``.``/``..`` left."""
    if is_remote(url):
        scheme, _, rest = url.partition("://")
        path = posixpath.normpath("/" + rest)
        root = f"{scheme}://"
    else:
        path = os.path.normpath(os.path.abspath(os.path.expanduser(local_path(url))))
        path = path.replace(os.sep, "/")
        root = ""
    parts = tuple(p for p in path.split("/") if p)
    return (root, *parts)


def _common_folder(keys: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The longest folder every file is under (their parents' common prefix); () when their
    schemes differ."""
    if not keys:
        return ()
    common = keys[0][:-1]
    for key in keys[1:]:
        parent = key[:-1]
        n = 0
        while n < min(len(common), len(parent)) and common[n] == parent[n]:
            n += 1
        common = common[:n]
    return common


def _refuse_collisions(stored: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for url, path in stored.items():
        if path in seen and seen[path] != url:
            raise InputError(
                f"{url}: would be stored as {path!r}, as {seen[path]} is; the table's images "
                f"must have distinct paths below their common folder"
            )
        seen[path] = url
