"""The public BIDS examples as test data: found beside the project, extracted once, images filled.

The corpus is a ``git archive`` of the BIDS project's example datasets (``bids-examples-*.tar.gz``)
whose NIfTI files are placeholders. It is not part of the repository: it is looked for in the
folder named by ``N2P_CORPORA`` when that is set, else in a ``shared/corpora`` folder beside the
project or beside any folder above it (``../shared/corpora`` for a checkout next to ``shared/``).
Where it is absent (a user's clone), the tests that need it skip, saying why.

``prepare(archive, folder)`` extracts the archive into ``folder/tree`` (symbolic links kept as in
the archive, modification times as recorded; a member that would land outside is refused) and
fills every placeholder image with a small valid one (``corpus_fill``: the shape its name
implies); every other file stays byte for byte as in the archive. A finished folder carries a
record of what was filled, keyed by the archive and the fill rules, so a second ``prepare`` of the
same folder reuses it.

In tests, use the fixtures of ``conftest_corpus``::

    def test_something(corpus):                 # the shared copy: read it, never change it
        source = corpus.path("ds001")

    def test_other(corpus_copy):                # a fresh copy of one dataset, free to change
        source = corpus_copy("ds000117")
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

from corpus_fill import Filled, fill_dataset, is_nifti

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV = "N2P_CORPORA"
PATTERN = "bids-examples-*.tar.gz"
FILL_VERSION = 2  # raise when corpus_fill's rules change: a cached folder is then redone
RECORD = "filled.json"


# finding it --------------------------------------------------------------------------------------
def corpora_folders() -> list[Path]:
    """Where the corpus may be: ``$N2P_CORPORA`` alone when set, else every ``shared/corpora``
    beside the project root or one of the folders above it."""
    if ENV in os.environ:
        return [Path(os.environ[ENV])]
    return [p / "shared" / "corpora" for p in PROJECT_ROOT.parents]


def find_archive() -> Path | None:
    for folder in corpora_folders():
        found = sorted(folder.glob(PATTERN)) if folder.is_dir() else []
        if found:
            return found[-1]
    return None


def missing_reason() -> str:
    where = (
        f"${ENV} = {os.environ[ENV]}"
        if ENV in os.environ
        else "../shared/corpora beside the project (or a folder above it)"
    )
    return f"the BIDS examples corpus ({PATTERN}) is not in {where}"


@cache
def archive_datasets(archive: Path) -> dict[str, bool]:
    """Every dataset of the archive (a top-level folder with a ``dataset_description.json``) and
    whether it has NIfTI files, from its member list alone (to parametrise tests before anything
    is extracted)."""
    described, images = set(), set()
    with tarfile.open(archive) as tar:
        for member in tar:
            top, _, rest = member.name.partition("/")
            if rest == "dataset_description.json":
                described.add(top)
            elif is_nifti(rest):
                images.add(top)
    return {name: name in images for name in sorted(described)}


def dataset_names(with_images: bool = False) -> list[str]:
    """The corpus's datasets (only those with NIfTI files when asked); [] when it is absent."""
    archive = find_archive()
    if archive is None:
        return []
    return [name for name, images in archive_datasets(archive).items() if images or not with_images]


# the extracted, filled corpus --------------------------------------------------------------------
@dataclass(frozen=True)
class Corpus:
    archive: Path
    root: Path  # the extracted tree; its top-level folders are the datasets
    datasets: tuple[str, ...]  # folders holding a dataset_description.json
    with_images: tuple[str, ...]  # those holding NIfTI files
    filled: dict[str, tuple[Filled, ...]] = field(repr=False)  # per dataset, what was written

    def path(self, name: str) -> Path:
        """The shared copy of one dataset: read it, never change it (every test sees it)."""
        if name not in self.datasets:
            raise KeyError(f"no dataset {name!r} in {self.archive.name}")
        return self.root / name

    def copy(self, name: str, dest: Path) -> Path:
        """A fresh copy of one dataset at ``dest`` (symbolic links and times kept), to change."""
        shutil.copytree(self.path(name), dest, symlinks=True)
        return dest

    def subjects(self, name: str) -> list[str]:
        """The dataset's subject labels (its ``sub-*`` folders), sorted."""
        root = self.path(name)
        return sorted(p.name[4:] for p in root.glob("sub-*") if p.is_dir())

    def first_subject(self, name: str) -> str | None:
        found = self.subjects(name)
        return found[0] if found else None

    def files(self, name: str) -> list[str]:
        """Every file of the dataset (regular files and links), relative POSIX paths, sorted."""
        return sorted(_walk(self.path(name)))


def _walk(root: Path) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            yield (Path(folder) / name).relative_to(root).as_posix()


def prepare(archive: Path, folder: Path) -> Corpus:
    """The corpus extracted and filled in ``folder`` (reused when already done there)."""
    key = {"archive": archive.name, "size": archive.stat().st_size, "fill": FILL_VERSION}
    record_path = folder / RECORD
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("key") == key:
            return _corpus(archive, folder / "tree", record)
    shutil.rmtree(folder, ignore_errors=True)
    staging = folder / "tree.partial"
    staging.mkdir(parents=True)
    _extract(archive, staging)
    datasets = sorted(
        p.name
        for p in staging.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / "dataset_description.json").is_file()
    )
    filled = {name: fill_dataset(staging / name) for name in datasets}
    staging.rename(folder / "tree")
    record = {
        "key": key,
        "datasets": datasets,
        "with_images": [n for n in datasets if _has_images(folder / "tree" / n)],
        "filled": {n: [_as_json(f) for f in items] for n, items in filled.items() if items},
    }
    record_path.write_text(json.dumps(record, indent=0))
    return _corpus(archive, folder / "tree", record)


def _extract(archive: Path, dest: Path) -> None:
    """Extract the archive as it is (links included), refusing any member that would land or
    point outside ``dest``: checked here once, cheaper than tarfile's per-member filters."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            target = PurePosixPath(member.name)
            if member.issym():
                target = target.parent / member.linkname
            if (
                target.is_absolute()
                or _climbs(target)
                or not (member.isreg() or member.isdir() or member.issym())
            ):
                raise ValueError(f"{archive.name}: {member.name} is not a plain file in the tree")
        if hasattr(tarfile, "fully_trusted_filter"):
            tar.extractall(dest, members=members, filter="fully_trusted")
        else:  # pragma: no cover - Python releases before extraction filters
            tar.extractall(dest, members=members)


def _climbs(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return True
    return False


def _has_images(root: Path) -> bool:
    return any(is_nifti(name) for _, _, files in os.walk(root) for name in files)


def _as_json(item: Filled) -> dict:
    return {**item.__dict__, "shape": list(item.shape)}


def _corpus(archive: Path, root: Path, record: dict) -> Corpus:
    filled = {
        name: tuple(Filled(**{**f, "shape": tuple(f["shape"])}) for f in items)
        for name, items in record["filled"].items()
    }
    return Corpus(
        archive=archive,
        root=root,
        datasets=tuple(record["datasets"]),
        with_images=tuple(record["with_images"]),
        filled=filled,
    )
