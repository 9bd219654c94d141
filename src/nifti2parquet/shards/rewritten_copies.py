"""``--exclude-field`` / ``--exclude-column`` in the files the ``files`` config stores as they are.

The exclusions already keep the named sidecar fields and table columns out of every column of the
rows (:mod:`nifti2parquet.common.exclusions`, applied as the metadata is read). But the ``files``
config publishes the dataset's own files byte for byte, and those files still hold the values: a
sidecar JSON with ``PatientName``, a ``participants.tsv`` with a ``name`` column, the table of a
table source. So each such file whose content an exclusion changes is rewritten once, before
planning, into the build's state folder (``.nifti2parquet/excluded/``) and stored from there;
every other file stays byte for byte. Each rewritten file is recorded with its source's size and
sha256 and what was left out, so the manifest, the card and ``verify --source`` know it was
changed on purpose (as images with ``--blank-nifti-headers`` are).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import posixpath
from collections.abc import Collection

from ..common.exclusions import without_columns, without_fields
from ..common.storage import Storage
from ..common.rows import FileRef, SourceRows
from .blanking import ChangedOnPurpose
from .output import STATE, OutputFolder

EXCLUDED = f"{STATE}/excluded"


def exclude_in_other_files(
    rows: SourceRows,
    output: OutputFolder,
    storage: Storage,
    fields: Collection[str],
    columns: Collection[str],
) -> tuple[SourceRows, tuple[ChangedOnPurpose, ...]]:
    """The rows with every other file that holds an excluded field or column replaced by its
    rewritten copy, and a record of each copy."""
    if not fields and not columns:
        return rows, ()
    others, records = [], []
    for other in rows.other_files:
        copy, record = _exclude_one(other, output, storage, fields, columns)
        others.append(copy)
        records += [record] if record else []
    return dataclasses.replace(rows, other_files=tuple(others)), tuple(records)


def _exclude_one(
    other: FileRef,
    output: OutputFolder,
    storage: Storage,
    fields: Collection[str],
    columns: Collection[str],
) -> tuple[FileRef, ChangedOnPurpose | None]:
    rewrite = _rewriter(other.name, fields, columns)
    if rewrite is None:
        return other, None
    with storage.open(other.url) as f:
        data = f.read()
    stored = rewrite(data)
    if stored is None or stored == data:  # holds none of them: stored as it is
        return other, None
    name = hashlib.sha256(other.display.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    rel = f"{EXCLUDED}/{name}{posixpath.splitext(other.name)[1]}"
    output.write_bytes_atomic(rel, stored)
    url = output.display(rel) if output.remote else output.full(rel)
    changed = tuple(f"--exclude-field {f}" for f in fields if f.encode() in data) + tuple(
        f"--exclude-column {c}" for c in columns if c.encode() in data
    )
    record = ChangedOnPurpose(other.display, other.url, len(data), hashlib.sha256(data).hexdigest(), changed)
    version = f"{other.version}|excluded:{hashlib.sha256(stored).hexdigest()[:16]}"
    return FileRef(url, len(stored), other.name, other.display, version), record


def _rewriter(name: str, fields: Collection[str], columns: Collection[str]):
    """How a file of this kind loses the excluded fields or columns; None: it cannot hold any."""
    lower = name.lower()
    if lower.endswith(".json") and fields:
        return lambda data: _json_without(data, fields)
    if lower.endswith(".tsv") and columns:
        return lambda data: without_columns(data, columns)
    if lower.endswith(".csv") and columns:
        return lambda data: _csv_without(data, columns)
    if lower.endswith(".jsonl") and columns:
        return lambda data: _jsonl_without(data, columns)
    if lower.endswith(".parquet") and columns:
        return lambda data: _parquet_without(data, columns)
    return None


def _json_without(data: bytes, fields: Collection[str]) -> bytes | None:
    """Only a JSON file that holds an excluded key is rewritten (others keep their formatting)."""
    stored = without_fields(data, fields)
    if stored == data or json.loads(stored) == json.loads(data):
        return None
    return stored


def _csv_without(data: bytes, columns: Collection[str]) -> bytes | None:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"))))
    if not rows or not any(name.strip() in columns for name in rows[0]):
        return None
    keep = [i for i, name in enumerate(rows[0]) if name.strip() not in columns]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([r[i] for i in keep if i < len(r)] for r in rows)
    return out.getvalue().encode("utf-8", "surrogateescape")


def _jsonl_without(data: bytes, columns: Collection[str]) -> bytes | None:
    if not any(f'"{c}"'.encode() in data for c in columns):
        return None
    lines = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        obj = json.loads(line) if line.strip() else None
        if isinstance(obj, dict):
            line = json.dumps({k: v for k, v in obj.items() if k not in columns})
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def _parquet_without(data: bytes, columns: Collection[str]) -> bytes | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    if not set(table.column_names) & set(columns):
        return None
    table = table.drop_columns([c for c in table.column_names if c in columns])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
