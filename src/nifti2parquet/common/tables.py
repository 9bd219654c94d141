"""Delimited text tables (CSV, TSV, BIDS ``.tsv``) and typing their text cells.

Text cells become typed values only when every value in the column agrees: integers, floats,
booleans, else strings. Identifiers that look like numbers but carry leading zeros (``007``,
``01``) stay strings, because subject and session labels are like that. Empty cells and ``n/a``
(the BIDS null) are null.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

import pyarrow as pa

from .errors import Problem

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
