"""participants.tsv, sessions.tsv and scans.tsv: typed columns, rows looked up by their key.

Every column is kept. Types come from the column's entry in the table's JSON data dictionary
(``participants.json``, ``sessions.json``, ``scans.json`` at the dataset root) when it has a BIDS
``Format`` (``integer`` → int64, ``number`` → float64, ``boolean`` → bool, any other format →
string) or ``Levels`` (categorical codes, kept as strings); otherwise they are inferred from the
cells (numbers as numbers, identifiers with leading zeros as strings). ``n/a`` and empty cells are
null. ``Description``, ``Units``, ``Levels`` and ``LongName`` become the column's description.
A file that is not UTF-8 is read as Latin-1 with a warning naming it; a row with the wrong number of
cells is padded or cut, with a warning.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ...common.errors import Problem
from ...common.tables import cell_or_none, decode_text, infer_text_column, parse_delimited
from .tree import MetaFile

_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


@dataclass(frozen=True)
class TableColumn:
    source_name: str  # as in the TSV header
    arrow_type: pa.DataType
    description: str = ""


@dataclass(frozen=True)
class KeyedTable:
    """A BIDS table's columns (key column excluded) and its rows by key."""

    columns: tuple[TableColumn, ...] = ()
    rows: Mapping[Any, tuple[Any, ...]] = field(default_factory=dict)

    def values(self, key: Any) -> tuple[Any, ...]:
        """The row for ``key``, or nulls when the table has none."""
        return self.rows.get(key, (None,) * len(self.columns))


@dataclass(frozen=True)
class _RawRows:
    rel: str
    header: list[str]
    rows: list[list[str | None]]


def read_participants(contents: Mapping[str, bytes | str], warnings: list[Problem]) -> KeyedTable:
    """participants.tsv keyed by ``sub-<label>``, typed with participants.json."""
    raw = _read_tsv("participants.tsv", contents, warnings)
    if raw is None:
        return KeyedTable()
    spec = _dictionary("participants.json", contents, warnings)
    key = "participant_id"
    return _keyed([raw], key, lambda _, k: _prefixed(k, "sub-"), spec, "participants.tsv", warnings)


def read_sessions(
    files: Sequence[MetaFile], contents: Mapping[str, bytes | str], warnings: list[Problem]
) -> KeyedTable:
    """Every ``sub-X/sub-X_sessions.tsv``, keyed by (``sub-X``, ``ses-Y``)."""
    raws = [_read_tsv(f.rel, contents, warnings) for f in files]
    subjects = {f.rel: f"sub-{f.name.get('sub')}" for f in files}
    spec = _dictionary("sessions.json", contents, warnings)

    def key(rel: str, value: str) -> Any:
        return (subjects[rel], _prefixed(value, "ses-"))

    return _keyed([r for r in raws if r], "session_id", key, spec, "sessions.tsv", warnings)


def read_scans(
    files: Sequence[MetaFile], contents: Mapping[str, bytes | str], warnings: list[Problem]
) -> KeyedTable:
    """Every ``*_scans.tsv``, keyed by the image's path relative to the dataset root."""
    raws = [_read_tsv(f.rel, contents, warnings) for f in files]
    spec = _dictionary("scans.json", contents, warnings)

    def key(rel: str, value: str) -> Any:
        return posixpath.normpath(posixpath.join(posixpath.dirname(rel), value))

    return _keyed([r for r in raws if r], "filename", key, spec, "scans.tsv", warnings)


def _prefixed(value: str, prefix: str) -> str:
    return value if value.startswith(prefix) else prefix + value


def _read_tsv(
    rel: str, contents: Mapping[str, bytes | str], warnings: list[Problem]
) -> _RawRows | None:
    data = contents.get(rel)
    if data is None:
        return None
    if isinstance(data, str):
        warnings.append(Problem(rel, f"table not read: {data}", "warning"))
        return None
    text, problems = decode_text(data, rel)
    warnings += problems
    header, body = parse_delimited(text, "\t")
    if not header:
        warnings.append(Problem(rel, "empty table (no header row); not joined", "warning"))
        return None
    rows = []
    for n, row in enumerate(body, start=2):
        if len(row) != len(header):
            warnings.append(
                Problem(
                    rel,
                    f"line {n} has {len(row)} cells but the header has {len(header)} columns; "
                    f"missing cells are null, extra cells are dropped",
                    "warning",
                )
            )
            row = (row + [""] * len(header))[: len(header)]
        rows.append([cell_or_none(c) for c in row])
    return _RawRows(rel, header, rows)


def _dictionary(
    rel: str, contents: Mapping[str, bytes | str], warnings: list[Problem]
) -> dict[str, Any]:
    data = contents.get(rel)
    if not isinstance(data, bytes):
        return {}
    text, problems = decode_text(data, rel)
    warnings += problems
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.append(
            Problem(rel, f"not valid JSON ({exc.msg}); column types inferred", "warning")
        )
        return {}
    return spec if isinstance(spec, dict) else {}


def _keyed(
    raws: Sequence[_RawRows],
    key_column: str,
    key_of: Callable[[str, str], Any],
    spec: dict[str, Any],
    label: str,
    warnings: list[Problem],
) -> KeyedTable:
    """One typed table from several files (the sessions.tsv of every subject, ...)."""
    names: list[str] = []
    for raw in raws:
        if key_column not in raw.header:
            warnings.append(Problem(raw.rel, f"no {key_column!r} column; not joined", "warning"))
            continue
        names += [h for h in raw.header if h != key_column and h not in names]
    keys: list[Any] = []
    cells: dict[str, list[str | None]] = {n: [] for n in names}
    for raw in raws:
        if key_column not in raw.header:
            continue
        at = raw.header.index(key_column)
        for row in raw.rows:
            key = row[at]
            if key is None:
                warnings.append(Problem(raw.rel, f"a row has no {key_column}; skipped", "warning"))
                continue
            keys.append(key_of(raw.rel, key))
            for n in names:
                cells[n].append(row[raw.header.index(n)] if n in raw.header else None)
    columns, typed = [], []
    for n in names:
        where = raws[0].rel if len(raws) == 1 else f"{label} files"
        arrow_type, values = type_column(cells[n], spec.get(n), f"{where}, column {n!r}", warnings)
        columns.append(TableColumn(n, arrow_type, describe(spec.get(n))))
        typed.append(values)
    rows: dict[Any, tuple[Any, ...]] = {}
    for i, key in enumerate(keys):
        if key in rows:
            warnings.append(
                Problem(str(key), f"listed twice in {label}; first row kept", "warning")
            )
            continue
        rows[key] = tuple(values[i] for values in typed)
    return KeyedTable(tuple(columns), rows)


def type_column(
    cells: list[str | None], spec: Any, where: str, warnings: list[Problem]
) -> tuple[pa.DataType, list[Any]]:
    """A column's type and values: from the data dictionary's Format/Levels, else inferred."""
    spec = spec if isinstance(spec, dict) else {}
    fmt = spec.get("Format")
    present = [c for c in cells if c is not None]
    if fmt == "integer":
        if all(_INTEGER.match(c) for c in present):
            return pa.int64(), [None if c is None else int(c) for c in cells]
        return _mismatch(cells, where, "integer", warnings)
    if fmt == "number":
        try:
            return pa.float64(), [None if c is None else float(c) for c in cells]
        except ValueError:
            return _mismatch(cells, where, "number", warnings)
    if fmt == "boolean":
        if all(c.lower() in ("true", "false") for c in present):
            return pa.bool_(), [None if c is None else c.lower() == "true" for c in cells]
        return _mismatch(cells, where, "boolean", warnings)
    if isinstance(fmt, str) or isinstance(spec.get("Levels"), dict):
        return pa.string(), list(cells)
    return infer_text_column(cells)


def _mismatch(
    cells: list[str | None], where: str, fmt: str, warnings: list[Problem]
) -> tuple[pa.DataType, list[Any]]:
    message = f"Format is {fmt!r} but some values are not; type inferred from the values instead"
    warnings.append(Problem(where, message, "warning"))
    return infer_text_column(cells)


def describe(spec: Any) -> str:
    """A one-line description from a data dictionary entry (Description, Units, Levels)."""
    if isinstance(spec, str):
        return spec
    if not isinstance(spec, dict):
        return ""
    parts = []
    text = spec.get("Description") or spec.get("LongName") or ""
    if text:
        parts.append(str(text).strip().rstrip(".") + ".")
    if spec.get("Units"):
        parts.append(f"Units: {spec['Units']}.")
    levels = spec.get("Levels")
    if isinstance(levels, dict) and levels:
        parts.append("Levels: " + ", ".join(f"{k} = {_level(v)}" for k, v in levels.items()) + ".")
    return " ".join(parts).replace("|", "/").replace("\n", " ")


def _level(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("Description") or value.get("TermURL") or value)
    return str(value)
