"""Finding out about input files: size, version, and a plain reason when a file cannot be used."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .errors import cannot_read
from .storage import Storage, is_remote, local_path

ANNEX_HINT = "run `datalad get` on it (or `git annex get`) to fetch the content"


@dataclass(frozen=True)
class StatResult:
    size: int = 0
    version: str = ""
    problem: str = ""  # why the file cannot be used; empty when it can


def stat_file(url: str, storage: Storage) -> StatResult:
    try:
        size, version = storage.stat(url)
    except FileNotFoundError:
        return StatResult(problem=_why_missing(url))
    except PermissionError:
        return StatResult(problem="permission denied")
    except OSError as exc:
        return StatResult(problem=cannot_read(exc))
    if not is_remote(url) and os.path.isdir(local_path(url)):
        return StatResult(problem="is a folder, not a file")
    return StatResult(size, version)


def stat_many(urls: Sequence[str], storage: Storage, threads: int = 16) -> dict[str, StatResult]:
    """Stat files concurrently (object stores answer one request per file)."""
    unique = list(dict.fromkeys(urls))
    if not any(is_remote(u) for u in unique) or len(unique) < 4:
        return {u: stat_file(u, storage) for u in unique}
    with ThreadPoolExecutor(threads, thread_name_prefix="n2p-stat") as pool:
        return dict(zip(unique, pool.map(lambda u: stat_file(u, storage), unique)))


def _why_missing(url: str) -> str:
    if is_remote(url):
        return "missing file"
    path = local_path(url)
    if os.path.islink(path):
        target = os.readlink(path)
        if ".git/annex/objects" in target or "/annex/objects/" in target:
            return f"git-annex content not present (broken symlink); {ANNEX_HINT}"
        return f"broken symlink (points to {target}, which does not exist)"
    return "missing file"
