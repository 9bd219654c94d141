"""A new kind of source is its own module plus one registry line: shown with a kind made here, a
plain folder of ``.nii.gz`` files (one row per file), built, verified and exported without any
other stage knowing about it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from factories import sha256_file, write_nifti

from nifti2parquet import ExportOptions, VerifyOptions, build, export, verify
from nifti2parquet.common.rows import Column, FileRef, SourceRows
from nifti2parquet.common.storage import Storage
from nifti2parquet.sources import read_source
from nifti2parquet.sources.options import SourceOptions
from nifti2parquet.sources.registry import KINDS, SourceKind, register, unregister

IMAGES = ["a.nii.gz", "b.nii.gz", "nested/c.nii.gz"]


def _is_nifti_folder(source: str, storage: Storage) -> bool:
    folder = Path(source)
    return folder.is_dir() and any(folder.rglob("*.nii.gz"))


def _read_nifti_folder(source: str, options: SourceOptions) -> SourceRows:
    root = Path(source).resolve()
    rows = []
    for path in sorted(root.rglob("*.nii.gz")):
        rel = path.relative_to(root).as_posix()
        stat = os.stat(path)
        ref = FileRef(str(path), stat.st_size, rel, rel, f"{stat.st_size}:{stat.st_mtime_ns}")
        rows.append((rel, ref))
    columns = (Column("file", "value", pa.string()), Column("image", "image"))
    return SourceRows(
        source, "nifti-folder", columns, tuple(rows), files_found=len(rows), each_file_once=True
    )


NIFTI_FOLDER = SourceKind(
    name="nifti-folder",
    noun="NIfTI folder",
    label="a folder of .nii.gz files",
    recognises=_is_nifti_folder,
    read=_read_nifti_folder,
)


@pytest.fixture
def registered() -> Iterator[None]:
    register(NIFTI_FOLDER)  # the one line a new kind adds to sources/registry.py
    try:
        yield
    finally:
        unregister(NIFTI_FOLDER.name)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for seed, rel in enumerate(IMAGES):
        write_nifti(root / rel, seed=seed)
    return root


def test_an_unregistered_kind_is_not_recognised_and_the_message_names_every_kind(
    folder: Path,
) -> None:
    from nifti2parquet.common.errors import InputError

    with pytest.raises(InputError) as error:
        read_source(str(folder), SourceOptions())
    assert all(kind.label in error.value.message for kind in KINDS)


def test_a_registered_kind_is_built_verified_and_exported(
    registered: None, folder: Path, tmp_path: Path
) -> None:
    out, back = tmp_path / "out", tmp_path / "back"
    result = build(str(folder), str(out))
    assert (result.num_rows, result.num_images) == (3, 3)
    report = verify(str(out), VerifyOptions(deep=True, source=""))
    assert report.ok, report.problems
    assert report.counts["images_decoded"] == 3 and report.counts["source_files"] == 3
    exported = export(str(out), str(back), ExportOptions())
    assert exported.files_written == 3
    assert {p.relative_to(back).as_posix(): sha256_file(p) for p in back.rglob("*.nii.gz")} == {
        rel: sha256_file(folder / rel) for rel in IMAGES
    }
    card = (out / "README.md").read_text()
    assert "BIDS" not in card and "`image`" in card
