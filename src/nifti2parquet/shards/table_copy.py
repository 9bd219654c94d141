"""The published copy of a table source, with its images' stored paths in place of its own.

A table names its images as its author's machine reaches them; the dataset stores them under
relative paths (:mod:`nifti2parquet.common.stored_paths`). So that an exported dataset is the
images and a table that finds them, the table the ``files`` config publishes is a copy whose image
cells hold the stored paths: written once, before planning, into the build's state folder (as
``--exclude-column`` copies are, :mod:`.rewritten_copies`), and recorded as changed on purpose
with the source table's size and sha256, so ``verify --source`` says so instead of failing. Only
the image columns' cells change; a table whose paths are already the stored ones is published
byte for byte.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import posixpath
from collections.abc import Callable, Sequence
from typing import Any

from ..common.rows import FileRef, MetadataFile, SourceRows
from ..common.storage import Storage
from .blanking import ChangedOnPurpose
from .output import STATE, OutputFolder

REWRITTEN = f"{STATE}/table"
CHANGE = "image paths stored relative (the machine's own paths are not published)"


def store_table_paths(
    rows: SourceRows,
    output: OutputFolder,
    storage: Storage,
    changed: Sequence[ChangedOnPurpose] = (),
) -> tuple[SourceRows, tuple[ChangedOnPurpose, ...]]:
    """The rows with the table replaced by its copy carrying the stored paths, and the records
    of every file changed on purpose (``changed``, the exclusions' records, merged)."""
    paths = rows.stored_paths
    table = next((f for f in rows.other_files if paths and f.name == paths.table), None)
    if paths is None or table is None or not paths.changed:
        return rows, tuple(changed)
    with storage.open(table.url) as f:
        data = f.read()
    mapping = paths.mapping()
    stored = _rewrite(table.name, data, lambda cell: _cell(cell, mapping), set(paths.columns))
    rel = f"{REWRITTEN}/{posixpath.basename(table.name)}"
    output.write_bytes_atomic(rel, stored)
    url = output.display(rel) if output.remote else output.full(rel)
    digest = hashlib.sha256(stored).hexdigest()[:16]
    copy = FileRef(url, len(stored), table.name, table.display, f"{table.version}|paths:{digest}")
    records = _merged(changed, table, data)
    return _with_copy(rows, table, copy), records


def _merged(
    changed: Sequence[ChangedOnPurpose], table: FileRef, data: bytes
) -> tuple[ChangedOnPurpose, ...]:
    """The table's record says both changes when an exclusion rewrote it first (its size and
    sha256 are then the source's already)."""
    earlier = next((c for c in changed if c.path == table.display), None)
    if earlier is not None:
        mine = dataclasses.replace(earlier, changed=(*earlier.changed, CHANGE))
    else:
        sha = hashlib.sha256(data).hexdigest()
        mine = ChangedOnPurpose(table.display, table.url, len(data), sha, (CHANGE,))
    return (*(c for c in changed if c is not earlier), mine)


def _with_copy(rows: SourceRows, table: FileRef, copy: FileRef) -> SourceRows:
    """The copy is what is published, and what the privacy scan reads as the table."""
    others = tuple(copy if f is table else f for f in rows.other_files)
    metadata = tuple(
        dataclasses.replace(m, url=copy.url) if m.url == table.url else m
        for m in rows.metadata_files
    )
    if not any(m.url == copy.url for m in metadata):
        metadata += (MetadataFile(table.display, copy.url, "table"),)
    return dataclasses.replace(rows, other_files=others, metadata_files=metadata)


def _cell(cell: Any, mapping: dict[str, str]) -> Any:
    """One image cell with its path(s) replaced: a path, a list, or a JSON array in text."""
    if isinstance(cell, list):
        return [_cell(c, mapping) for c in cell]
    if not isinstance(cell, str):
        return cell
    text = cell.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            return mapping.get(text, cell)
        return json.dumps([_cell(c, mapping) for c in items])
    return mapping.get(text, cell)


Rewrite = Callable[[Any], Any]


def _rewrite(name: str, data: bytes, cell: Rewrite, columns: set[str]) -> bytes:
    lower = name.lower()
    if lower.endswith(".parquet"):
        return _parquet(data, cell, columns)
    if lower.endswith((".jsonl", ".ndjson")):
        return _jsonl(data, cell, columns)
    return _delimited(data, "\t" if lower.endswith(".tsv") else ",", cell, columns)


def _delimited(data: bytes, delimiter: str, cell: Rewrite, columns: set[str]) -> bytes:
    text = data.decode("utf-8-sig", "surrogateescape")
    lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not lines:
        return data
    header = [h.strip() for h in lines[0]]
    wanted = [i for i, h in enumerate(header) if h in columns]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(lines[0])
    for row in lines[1:]:
        writer.writerow([cell(v) if i in wanted else v for i, v in enumerate(row)])
    bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
    return (bom + out.getvalue()).encode("utf-8", "surrogateescape")


def _jsonl(data: bytes, cell: Rewrite, columns: set[str]) -> bytes:
    lines = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        record = json.loads(line) if line.strip() else None
        if isinstance(record, dict):
            line = json.dumps({k: cell(v) if k in columns else v for k, v in record.items()})
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def _parquet(data: bytes, cell: Rewrite, columns: set[str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    for name in columns & set(table.column_names):
        index = table.column_names.index(name)
        column = table.column(name)
        values = [cell(v) for v in column.to_pylist()]
        table = table.set_column(index, name, pa.array(values, type=column.type))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
