"""What is on the Hub, compared with what was built: sizes and sha256 from the Hub's own records.

The Hub keeps, for every file stored with LFS (every ``.parquet`` by its default
``.gitattributes``), the content's sha256 and size; a tree listing returns them for the whole repo
in a few requests, so a remote dataset of any size is checked against the build's manifest without
downloading a byte. Regular git files (``README.md``) carry their git blob id instead, which is
computed locally from the README. ``deep`` also streams every file down and hashes what the Hub
actually serves.

:func:`hub_files` is the one listing function; ``push`` uses it too.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..card.header import CardHeaderError, read_card_header
from ..common.errors import Problem
from ..common.hashing import sha256_and_size
from ..common.units import format_size, plural
from .errors import listing_problem, reason

if TYPE_CHECKING:
    from huggingface_hub import HfApi

DOWNLOAD_BLOCK = 8 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of a Hub repo at a revision, as the Hub describes it (no download)."""

    path: str
    size: int
    blob_id: str  # git object id: sha1 of the blob, or of the LFS pointer for LFS files
    sha256: str | None  # sha256 of the content for LFS (and Xet) files; None for git files


@dataclass(frozen=True)
class LocalFile:
    """A file the remote must hold exactly: where, how big, its sha256 and git blob id."""

    path: str
    size: int
    sha256: str
    blob_id: str | None = None  # known for small text files (README.md), for git-stored files
    text: str | None = None  # a dataset card's text: compared by its YAML header when it differs


def hub_files(
    api: HfApi, repo_id: str, revision: str | None = None, repo_type: str = "dataset"
) -> dict[str, RemoteFile]:
    """Every file of ``repo_id`` at ``revision`` (path → RemoteFile), from one recursive tree
    listing (paged by the client). Raises huggingface_hub's errors (repo or revision not found,
    HTTP errors) unchanged."""
    from huggingface_hub.hf_api import RepoFile

    files: dict[str, RemoteFile] = {}
    entries = api.list_repo_tree(
        repo_id, recursive=True, expand=False, revision=revision, repo_type=repo_type
    )
    for entry in entries:
        if isinstance(entry, RepoFile):
            sha256 = entry.lfs.sha256 if entry.lfs is not None else None
            files[entry.path] = RemoteFile(entry.path, int(entry.size), entry.blob_id, sha256)
    return files


def git_blob_id(data: bytes) -> str:
    """The git object id of a file's content: what the Hub reports for a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def small_file(path: str, data: bytes) -> LocalFile:
    """A small file held in memory (a preview PNG): its size, sha256 and git blob id."""
    return LocalFile(path, len(data), hashlib.sha256(data).hexdigest(), git_blob_id(data))


def local_card(path: str, data: bytes) -> LocalFile:
    """The README dataset card, held in memory (it is small)."""
    return replace(small_file(path, data), text=data.decode("utf-8", "replace"))


# comparing ----------------------------------------------------------------------------------------
def compare_files(
    where: str,
    expected: Sequence[LocalFile],
    remote: dict[str, RemoteFile],
    data_globs: Sequence[tuple[str, str]],
    read_text: Callable[[str], str] | None = None,
) -> tuple[list[Problem], Counter[str]]:
    """The remote holds every expected file with its size and sha256, and no other data file.

    ``data_globs`` are (split, pattern) pairs such as ("train", "data/train-*"): a remote file
    matching one that is not expected would be loaded as part of that split. Any other unexpected
    file under ``data/`` is a warning. ``where`` names the repo in messages (``user/x@main``).
    A card (a LocalFile with ``text``) that differs is read with ``read_text(path)``: when only
    its prose differs (a card re-rendered with the repo id) and its ``dataset_info`` and
    ``configs`` agree, that is a warning.
    """
    problems: list[Problem] = []
    counts: Counter[str] = Counter()
    for file in expected:
        found = remote.get(file.path)
        if found is None:
            problems.append(Problem(file.path, f"missing on the Hub ({where})"))
            continue
        counts["remote_files"] += 1
        counts["remote_bytes"] += found.size
        different = _difference(where, file, found)
        if different and file.text is not None and read_text is not None:
            different = _card_difference(where, file, read_text)
        problems += different
    wanted = {f.path for f in expected}
    for path in sorted(set(remote) - wanted):
        problems += _stray(where, path, data_globs)
    return problems, counts


def _difference(where: str, file: LocalFile, found: RemoteFile) -> list[Problem]:
    if found.size != file.size:
        message = f"differs on the Hub ({where}): {found.size:,} bytes there, {file.size:,} here"
        return [Problem(file.path, message)]
    if found.sha256 is not None:
        if found.sha256 != file.sha256:
            message = (
                f"differs on the Hub ({where}): sha256 {found.sha256[:12]}… there, "
                f"{file.sha256[:12]}… here"
            )
            return [Problem(file.path, message)]
        return []
    if file.blob_id is not None:
        if found.blob_id != file.blob_id:
            message = f"differs on the Hub ({where}): git blob {found.blob_id[:12]}… there"
            return [Problem(file.path, message)]
        return []
    message = (
        f"stored as a plain git file on the Hub ({where}), so the Hub reports no sha256 for it; "
        f"run with --deep to download and compare it"
    )
    return [Problem(file.path, message, "warning")]


CARD_KEYS = ("dataset_info", "configs")  # what datasets reads from a card


def _card_difference(where: str, file: LocalFile, read_text: Callable[[str], str]) -> list[Problem]:
    """Compare a differing card by what ``datasets`` reads from it: its YAML header."""
    try:
        text = read_text(file.path)
    except Exception as exc:  # transport or HTTP error: reported, never a crash
        message = f"differs on the Hub ({where}) and cannot be read: {reason(exc)}"
        return [Problem(file.path, message)]
    local, there = _header(file.text or ""), _header(text)
    keys = [k for k in CARD_KEYS if local.get(k) != there.get(k)]
    if keys:
        verb = plural(len(keys), "disagrees")
        message = (
            f"differs on the Hub ({where}): its {' and '.join(keys)} {verb} with the local "
            f"card, so datasets would read other features, splits or files"
        )
        return [Problem(file.path, message)]
    message = (
        f"differs on the Hub ({where}) in its text only; its dataset_info and configs agree "
        f"with the local card"
    )
    return [Problem(file.path, message, "warning")]


def _header(text: str) -> dict[str, Any]:
    """A card's YAML header; one that does not parse compares as empty."""
    try:
        return read_card_header(text)
    except CardHeaderError:
        return {}


def _stray(where: str, path: str, data_globs: Sequence[tuple[str, str]]) -> list[Problem]:
    for split, pattern in data_globs:
        if fnmatch.fnmatchcase(path, pattern):
            message = (
                f"stray data file on the Hub ({where}): not part of the build, but matches "
                f"{pattern} so datasets loads it into split {split!r}"
            )
            return [Problem(path, message)]
    if path.startswith("data/"):
        return [Problem(path, f"file under data/ on the Hub ({where}) is not part of the build",
                        "warning")]  # fmt: skip
    return []


# downloading (deep) -------------------------------------------------------------------------------
def download_problems(
    where: str,
    open_remote: Callable[[str], Any],
    files: Iterable[LocalFile],
    threads: int = 4,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Problem], Counter[str]]:
    """Stream each file from the Hub and hash what is served; compare with the expected sha256.

    ``open_remote(path)`` returns a readable binary stream (``HfFileSystem.open(...,
    block_size=0)``): nothing is written to disk and memory stays at one block per thread.
    """

    def one(file: LocalFile) -> tuple[LocalFile, int, str, str | None]:
        try:
            size, sha256 = _stream_sha256(open_remote(file.path), progress)
        except Exception as exc:  # any transport or HTTP error: reported, never a crash
            return file, 0, "", reason(exc)
        return file, size, sha256, None

    problems: list[Problem] = []
    counts: Counter[str] = Counter()
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="n2p-download") as pool:
        for file, size, sha256, error in pool.map(one, files):
            if error is not None:
                problems.append(
                    Problem(file.path, f"cannot download from the Hub ({where}): {error}")
                )
                continue
            counts["downloaded_files"] += 1
            counts["downloaded_bytes"] += size
            if (size, sha256) != (file.size, file.sha256):
                message = (
                    f"downloaded content differs ({where}): {format_size(size)}, sha256 "
                    f"{sha256[:12]}…; expected {format_size(file.size)}, {file.sha256[:12]}…"
                )
                problems.append(Problem(file.path, message))
    return problems, counts


def _stream_sha256(stream: Any, progress: Callable[[int], None] | None) -> tuple[int, str]:
    with stream as f:
        sha256, size = sha256_and_size(f, progress)
    return size, sha256


# the whole remote check ---------------------------------------------------------------------------
def check_hub(
    repo_id: str,
    expected: Sequence[LocalFile],
    data_globs: Sequence[tuple[str, str]],
    revision: str | None = None,
    token: str | None = None,
    deep: bool = False,
    threads: int = 4,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Problem], Counter[str]]:
    """Compare the dataset repo ``repo_id`` at ``revision`` with the expected files; ``deep``
    also downloads each expected file. A repo or revision that cannot be read is one problem."""
    from huggingface_hub import HfApi, HfFileSystem

    where = f"{repo_id}@{revision or 'main'}"
    api = HfApi(token=token)
    try:
        remote = hub_files(api, repo_id, revision)
    except Exception as exc:  # not found, no access, network: one clear line, never a traceback
        return [Problem(where, listing_problem(exc))], Counter()
    fs = HfFileSystem(token=token)

    def open_remote(path: str) -> Any:
        return fs.open(f"datasets/{repo_id}/{path}", "rb", revision=revision, block_size=0)

    def read_text(path: str) -> str:
        with open_remote(path) as f:
            return f.read().decode("utf-8", "replace")

    problems, counts = compare_files(where, expected, remote, data_globs, read_text)
    if deep:
        present = [f for f in expected if f.path in remote]
        found, downloaded = download_problems(where, open_remote, present, threads, progress)
        problems += found
        counts += downloaded
    return problems, counts
