"""What a dataset folder is: every file under it, but two kinds of folder that are not data.

A BIDS source publishes the whole folder (images in rows, every other file in the ``files``
config, byte for byte). Two kinds of folder are never read, and a build names each one once:

- version-control internals: ``.git``, ``.datalad``, ``.svn`` and ``.hg`` (a folder, or a ``.git``
  file of a worktree or submodule). They hold the history and, in a DataLad dataset, the annexed
  content the symbolic links of the tree point to: the tree's own files are published, their
  history is not;
- a nifti2parquet build (an OUTPUT_DIR, recognised by the ``.nifti2parquet/`` folder it holds):
  ``cd ds && nifti2parquet build . hf-out`` must not publish ``hf-out/`` with the next build.

What else the publisher means to leave out, they say with ``--exclude`` (:mod:`.path_patterns`).
"""

from __future__ import annotations

from .errors import Problem

VERSION_CONTROL = (".git", ".datalad", ".svn", ".hg")
BUILD_MARKER = ".nifti2parquet"  # the state folder of every OUTPUT_DIR (``shards.output.STATE``)

NOT_READ = "not read"  # how a skipped folder's reason starts


def version_control(name: str) -> bool:
    """A file or folder name that is version-control internals."""
    return name in VERSION_CONTROL


def version_control_folder(rel: str) -> Problem:
    """A version-control folder (or ``.git`` file) that was not read, relative to the root."""
    return Problem(f"{rel}/", f"{NOT_READ}: version control ({rel.rsplit('/', 1)[-1]})", "info")


def build_folder(rel: str) -> Problem:
    """A folder holding a nifti2parquet build (or the root's own state folder): not read."""
    if not rel or rel == BUILD_MARKER:
        return Problem(f"{BUILD_MARKER}/", f"{NOT_READ}: nifti2parquet's own state", "info")
    return Problem(
        f"{rel}/", f"{NOT_READ}: a nifti2parquet build (it holds {BUILD_MARKER}/)", "info"
    )


def skipped_line(skipped: tuple[Problem, ...] | list[Problem]) -> str:
    """``not read: hf-out/ (a nifti2parquet build), .git/ (version control)``: each once."""
    if not skipped:
        return ""
    shown = []
    for problem in skipped:
        why = problem.message.removeprefix(f"{NOT_READ}: ").split(" (")[0]
        shown.append(f"{problem.path} ({why})")
    more = f" and {len(shown) - 8:,} more" if len(shown) > 8 else ""
    return f"{NOT_READ}: {', '.join(shown[:8])}{more}"
