"""What a failed build leaves in OUTPUT_DIR: what was there before it started.

A build creates its state folder, a temp folder and a lock file before it reads the source, so
without this a build that fails on its input (no source there, no image in it, a truncated file,
a filter that matches nothing...) would leave ``OUTPUT_DIR/.nifti2parquet/{tmp/,
build-train.lock}`` behind, and a folder that did not exist would now exist. On failure every
file and folder the run created is removed again: a folder it created is gone, a folder that
existed holds exactly what it held (your files, an earlier build).

Finished work is the exception: a run that finished a shard (its file and its marker) keeps it,
so running the same command again resumes where it stopped; only its temp files and lock go. A
run that could not take the folder's lock (another build is writing there) removes no file, only
folders it created that are still empty. Local folders only: an object store has no folders.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from .output import PARTIAL, STATE, TMP, OutputFolder

# Finished work a re-run reuses: shards and the markers that vouch for them.
_PROGRESS = ("data/", "files/")
_MARKERS = "/markers/"


@dataclass
class Guard:
    """The folder as it was before the run; ``owned`` once the run may remove what it created
    (it holds the folder's lock)."""

    root: str
    existed: bool
    before: set[str] = field(default_factory=set)
    owned: bool = False


@contextlib.contextmanager
def leave_as_found(output: OutputFolder) -> Iterator[Guard]:
    """Undo what the run inside created if it raises (see the module docstring)."""
    guard = Guard(output.url, os.path.isdir(output.url))
    if output.remote:
        yield guard
        return
    guard.before = _listing(output.url) if guard.existed else set()
    try:
        yield guard
    except BaseException:
        with contextlib.suppress(OSError):
            _undo(guard)
        raise


def _listing(root: str) -> set[str]:
    """Every file and folder under ``root``, as relative paths (folders end with ``/``)."""
    found = set()
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        found.update(prefix + d + "/" for d in dirs)
        found.update(prefix + f for f in files)
    return found


def _undo(guard: Guard) -> None:
    now = _listing(guard.root) if os.path.isdir(guard.root) else set()
    created = now - guard.before
    files = sorted(p for p in created if not p.endswith("/"))
    if guard.owned:
        progress = any(_is_progress(p) for p in files)
        for rel in files:
            if not progress or _is_scratch(rel):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(guard.root, rel))
    for rel in sorted((p for p in created if p.endswith("/")), key=len, reverse=True):
        with contextlib.suppress(OSError):  # a folder that still holds something stays
            os.rmdir(os.path.join(guard.root, rel))
    if not guard.existed:
        with contextlib.suppress(OSError):
            os.rmdir(guard.root)


def _is_progress(rel: str) -> bool:
    return rel.startswith(_PROGRESS) or (rel.startswith(STATE + "/") and _MARKERS in rel)


def _is_scratch(rel: str) -> bool:
    """Temp files and lock files: never worth keeping."""
    return (rel.startswith(TMP + "/") and rel.endswith(PARTIAL)) or (
        rel.startswith(STATE + "/") and rel.endswith(".lock")
    )
