"""Tables as files hold them: CSV, TSV (BIDS ``.tsv`` too), JSON lines and Parquet, parsed into
raw columns (:class:`RawTable`); and typing text cells.

Text cells become typed values only when every value in the column agrees: integers, floats,
booleans, else strings. Identifiers that look like numbers but carry leading zeros (``007``,
``01``) stay strings, because subject and session labels are like that. Empty cells and ``n/a``
(the BIDS null) are null.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError, Problem, os_reason
from .storage import Storage

NULL_TOKENS = frozenset({"", "n/a"})
_INT = re.compile(r"^[+-]?(0|[1-9]\d*)$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_BOOL = {"true": True, "false": False}


def decode_text(data: bytes, name: str) -> tuple[str, list[Problem]]:
    """UTF-8 (with or without BOM); otherwise Latin-1, with a warning naming the file."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        warning = Problem(
            name,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"read as Latin-1 — check accented characters, and save the file as UTF-8",
            "warning",
        )
        return data.decode("latin-1"), [warning]


def parse_delimited(text: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows; rows are padded or cut to the header's width by the caller's checks."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    if not rows:
        return [], []
    return [h.strip() for h in rows[0]], rows[1:]


def cell_or_none(cell: str | None) -> str | None:
    if cell is None:
        return None
    cell = cell.strip()
    return None if cell in NULL_TOKENS else cell


def infer_text_column(cells: Sequence[str | None]) -> tuple[pa.DataType, list[object]]:
    """The narrowest type every non-null cell fits, and the cells converted to it."""
    present = [c for c in cells if c is not None]
    if present and all(c.lower() in _BOOL for c in present):
        return pa.bool_(), [None if c is None else _BOOL[c.lower()] for c in cells]
    if present and all(_INT.match(c) for c in present):
        values = [None if c is None else int(c) for c in cells]
        if all(-(2**63) <= v < 2**63 for v in values if v is not None):
            return pa.int64(), values
    if present and all(_is_float(c) for c in present):
        return pa.float64(), [None if c is None else float(c) for c in cells]
    return pa.string(), list(cells)


def _is_float(cell: str) -> bool:
    if _FLOAT.match(cell):
        return not _has_leading_zero(cell)
    return cell.lower() in ("nan", "inf", "-inf", "+inf")


def _has_leading_zero(cell: str) -> bool:
    digits = cell.lstrip("+-")
    return len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()


# tables as files hold them ----------------------------------------------------------------------
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson")


def is_table(source: str) -> bool:
    return source.lower().endswith(TABLE_SUFFIXES)


@dataclass(frozen=True)
class RawTable:
    """Column names, raw cells per column, and Arrow types where the format has them."""

    names: list[str]
    cells: dict[str, list[Any]]
    types: dict[str, pa.DataType]
    text: bool  # cells are text (CSV/TSV): JSON arrays are lists, values need typing
    warnings: list[Problem]


def read_raw_table(source: str, storage: Storage) -> RawTable:
    try:
        with storage.open(source) as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({os_reason(exc)})") from None
    return parse_table(source, data)


def parse_table(source: str, data: bytes) -> RawTable:
    """``data`` parsed as the table ``source`` names (its suffix says the format)."""
    name = source.lower()
    if name.endswith(".parquet"):
        return _parquet_table(source, data)
    if name.endswith((".jsonl", ".ndjson")):
        return _jsonl_table(source, data)
    return _delimited_table(source, data, "\t" if name.endswith(".tsv") else ",")


def _delimited_table(source: str, data: bytes, delimiter: str) -> RawTable:
    text, warnings = decode_text(data, source)
    header, body = parse_delimited(text, delimiter)
    if not header:
        raise InputError(f"{source}: the table is empty (no header row)")
    _check_separator(source, header, delimiter)
    _check_names(source, header)
    for n, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise InputError(
                f"{source}: row {n} has {len(row)} cells but the header has {len(header)} columns"
            )
    cells = {h: [cell_or_none(row[i]) for row in body] for i, h in enumerate(header)}
    return RawTable(header, cells, {}, True, warnings)


_SEPARATORS = {",": ("commas", ".csv"), "\t": ("tabs", ".tsv")}


def _check_separator(source: str, header: list[str], delimiter: str) -> None:
    """A ``.tsv`` written with commas (or a ``.csv`` with tabs) reads as one column whose cells
    hold whole rows: say what it is instead of reporting every cell as a missing file."""
    other = "," if delimiter == "\t" else "\t"
    if len(header) == 1 and other in header[0]:
        mine, (theirs, suffix) = _SEPARATORS[delimiter][0], _SEPARATORS[other]
        raise InputError(
            f"{source}: the header row has no {mine} but has {theirs}: the table seems "
            f"separated by {theirs}; name it {suffix} (or separate it with {mine})"
        )


def _jsonl_table(source: str, data: bytes) -> RawTable:
    text, warnings = decode_text(data, source)
    records: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{source}: line {n} is not a JSON object")
        records.append(record)
    names = list(dict.fromkeys(k for record in records for k in record))
    if not names:
        raise InputError(f"{source}: the table is empty")
    cells = {k: [record.get(k) for record in records] for k in names}
    return RawTable(names, cells, {}, False, warnings)


def _parquet_table(source: str, data: bytes) -> RawTable:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{source}: not a readable Parquet file ({exc})") from None
    _check_names(source, table.column_names)
    types: dict[str, pa.DataType] = {}
    cells: dict[str, list[Any]] = {}
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        types[name] = column.type
        cells[name] = column.to_pylist()
    return RawTable(list(table.column_names), cells, types, False, [])


def _check_names(source: str, names: Sequence[str]) -> None:
    if any(not n for n in names):
        raise InputError(f"{source}: a column has an empty name")
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    if duplicates:
        raise InputError(f"{source}: duplicate column names: {', '.join(duplicates)}")
