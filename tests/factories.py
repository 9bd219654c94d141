"""Small datasets built in code, from real NIfTI bytes written by nibabel.

Every test that needs images or tables builds them here, so the cases stay readable: a test says
"three subjects, one missing T1w, two BOLD runs" and this module makes the files.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pyarrow as pa

from nifti2parquet.card.details import CardDetails
from nifti2parquet.commands.build import BuildOptions
from nifti2parquet.common.rows import Column, FileRef, SourceRows
from nifti2parquet.common.selection import FILTERS, Selection
from nifti2parquet.sources.options import SourceOptions


def nifti_bytes(
    shape: tuple[int, ...] = (6, 7, 5),
    dtype: Any = np.int16,
    seed: int = 0,
    gz: bool = False,
    version: int = 1,
) -> bytes:
    """A real single-file NIfTI image (``.nii`` bytes, or gzip of them)."""
    rng = np.random.default_rng(seed)
    data = (rng.random(shape) * 1000).astype(dtype)
    affine = np.diag([1.0 + seed % 3, 1.5, 2.0, 1.0])
    affine[:3, 3] = [-seed, 2 * seed, 3.5]
    image_class = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    image = image_class(data, affine)
    image.header.set_data_dtype(data.dtype)
    raw = image.to_bytes()
    return gzip.compress(raw, compresslevel=1, mtime=0) if gz else raw


def write_nifti(
    path: str | Path,
    seed: int = 0,
    shape: tuple[int, ...] = (6, 7, 5),
    dtype: Any = np.int16,
    version: int = 1,
) -> Path:
    """Write a NIfTI image to ``path``; gzip when the name ends with ``.gz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(nifti_bytes(shape, dtype, seed, str(path).endswith(".gz"), version))
    return path


def padded_nifti(path: str | Path, size: int, seed: int = 0) -> Path:
    """A valid ``.nii.gz`` of about ``size`` bytes (incompressible voxels), for size tests."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    slices = max(1, size // (4 * 16 * 16))
    rng = np.random.default_rng(seed)
    data = rng.integers(-(2**31), 2**31 - 1, size=(16, 16, slices), dtype=np.int32)
    image = nib.Nifti1Image(data, np.eye(4))
    raw = image.to_bytes()
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    return path


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class TableDataset:
    """A file table on disk and what it should produce."""

    table: Path
    rows: list[dict[str, Any]]
    image_columns: dict[str, str] = field(default_factory=dict)  # name -> image | image_list

    def images(self) -> list[Path]:
        """Every image path the table names, in row / column / list order."""
        return [self.table.parent / p for p in self.images_as_written()]

    def images_as_written(self) -> list[str]:
        """Every image cell's text, as the table holds it, in row / column / list order."""
        found = []
        for row in self.rows:
            for name in self.image_columns:
                cell = row[name]
                if cell is None:
                    continue
                found += cell if isinstance(cell, list) else [cell]
        return found


def subject_table(
    root: str | Path,
    subjects: int = 3,
    runs: Sequence[int] | None = None,
    missing_t1w: Sequence[int] = (),
    fmt: str = "csv",
    gz: bool = True,
    sizes: Sequence[int] | None = None,
) -> TableDataset:
    """A table like the ones people build by hand: subject_id, t1w, bold (list), age, group.

    ``runs[i]`` BOLD runs for subject i (0 gives ``[]``); ``missing_t1w`` subjects have no T1w;
    ``sizes`` makes the T1w images roughly that many bytes (for threshold tests).
    """
    root = Path(root)
    runs = list(runs) if runs is not None else [2, 1, 0][:subjects] + [1] * max(0, subjects - 3)
    ext = ".nii.gz" if gz else ".nii"
    rows: list[dict[str, Any]] = []
    for i in range(subjects):
        sub = f"sub-{i + 1:02d}"
        t1w = None
        if i not in missing_t1w:
            t1w = f"images/{sub}_T1w{ext}"
            if sizes:
                padded_nifti(root / t1w, sizes[i % len(sizes)], seed=i)
            else:
                write_nifti(root / t1w, seed=i)
        bold = []
        for k in range(runs[i]):
            name = f"images/{sub}_task-rest_run-{k + 1:02d}_bold{ext}"
            write_nifti(root / name, seed=100 + 10 * i + k, shape=(5, 4, 3, 4))
            bold.append(name)
        rows.append(
            {
                "subject_id": sub,
                "t1w": t1w,
                "bold": bold,
                "age": 20.5 + i,
                "group": "patient" if i % 2 else "control",
            }
        )
    table = root / f"participants.{fmt}"
    write_table(table, rows)
    return TableDataset(table, rows, {"t1w": "image", "bold": "image_list"})


def write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV/TSV (lists as JSON arrays, None as empty), JSONL, or Parquet."""
    suffix = path.suffix
    names = list(rows[0])
    if suffix in (".csv", ".tsv"):
        with open(path, "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writerow(names)
            for row in rows:
                writer.writerow([_text_cell(row[n]) for n in names])
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise ValueError(suffix)


def _text_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def tree_bytes(root: str | Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes) but the hidden state: identity tests."""
    root = Path(root)
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".nifti2parquet" not in p.parts
    }


def dir_size(paths: Sequence[str | os.PathLike]) -> int:
    return sum(os.path.getsize(p) for p in paths)


# rows for planning (no files needed) ---------------------------------------------------------
COLUMNS = (
    Column("subject_id", "value", pa.string()),
    Column("t1w", "image"),
    Column("bold", "image_list"),
    Column("age", "value", pa.float64()),
)


def fake_rows(sizes: list[list[int]]) -> SourceRows:
    """Rows whose images have the given sizes (no files needed for planning)."""
    rows = []
    for r, row_sizes in enumerate(sizes):
        t1w = (
            FileRef(f"/x/{r}_T1w.nii.gz", row_sizes[0], f"{r}_T1w.nii.gz", f"{r}")
            if row_sizes
            else None
        )
        bold = tuple(
            FileRef(f"/x/{r}_{k}.nii.gz", s, f"{r}_{k}.nii.gz", f"{r}/{k}")
            for k, s in enumerate(row_sizes[1:])
        )
        rows.append((f"sub-{r}", t1w, bold, float(r)))
    return SourceRows("test", "table", COLUMNS, tuple(rows))


def files_config(out: Path) -> dict[str, dict[str, Any]]:
    """The files config of a build, read with pyarrow: its rows by path (content as bytes or
    None), asserting every path is listed once."""
    import pyarrow.parquet as pq

    rows: dict[str, dict[str, Any]] = {}
    for shard in sorted((out / "files").glob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            assert row["path"] not in rows  # every file once
            rows[row["path"]] = row
    return rows


_SOURCE_FIELDS = {"image_columns", "rows", "derivatives", "exclude_fields", "exclude_columns"}
_SOURCE_FIELDS |= {"exclude"}
_CARD_FIELDS = {"license", "title", "description", "citation", "license_name"}
_CARD_FIELDS |= {"column_descriptions"}


def build_options(**flat: Any) -> BuildOptions:
    """``BuildOptions`` from the flat names a command line uses (``rows=``, ``subjects=``,
    ``title=``, ``storage=``...), so a test reads like the command it stands for."""
    selection = {f.field: flat.pop(f.field) for f in FILTERS if f.field in flat}
    source = {k: flat.pop(k) for k in _SOURCE_FIELDS & set(flat)}
    card = {k: flat.pop(k) for k in _CARD_FIELDS & set(flat)}
    if "storage" in flat:
        source["storage"] = flat.pop("storage")
    return BuildOptions(
        source=SourceOptions(selection=Selection(**selection), **source),
        card=CardDetails(**card),
        **flat,
    )


def source_options(**flat: Any) -> SourceOptions:
    """``SourceOptions`` from flat names (``subjects=``...)."""
    selection = {f.field: flat.pop(f.field) for f in FILTERS if f.field in flat}
    return SourceOptions(selection=Selection(**selection), **flat)
