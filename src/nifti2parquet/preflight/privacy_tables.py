"""Tables: every cell, read with what the BIDS schema says the table's columns mean.

One finding per column and kind, with the number of cells that hold it. Which rules apply to a
column depends on the table (:mod:`nifti2parquet.common.column_meanings`):

* participant-level tables (participants, sessions, scans, phenotype, samples) and a table
  source's own table: every rule, and the column's *name* too (a ``name``, ``dob``, ``email``,
  ``phone`` or ``mrn`` column is identifying whenever it holds a value);
* other tables (``channels.tsv``, ``electrodes.tsv``, events, a segmentation's lookup table...):
  the person-name rules only in columns the schema does not define for that table (a channel's
  ``name`` is ``MEG0113``, a label's is ``Left-Hippocampus``); e-mail addresses, phone numbers,
  dates and the user's list everywhere.

Columns left out by ``--exclude-column`` are not read, and in participant-level tables neither are
the rows a ``--subject``/``--session`` filter leaves out (they are not published): how many
participants that leaves out is counted, never who.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..common.column_meanings import UNKNOWN, table_kind
from ..common.exclusions import LeftOut, columns_excluded_in, kept_rows
from ..common.selection import Selection
from .privacy_record import Finding, finding
from .privacy_rules import LISTED_FIELD, PrivacyRules, column_rule, mask
from .privacy_text import FREE_TEXT, Scope, find_in_text

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NAMELESS = Scope(names=False)


@dataclass(frozen=True)
class TableScan:
    """What a table scan needs besides the table: the rules and what is left out of it."""

    rules: PrivacyRules
    exclude_columns: tuple[str, ...] = ()
    selection: Selection = field(default_factory=Selection)
    table_source: bool = False  # the table a table source was read from


def delimited(text: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a TSV/CSV, read leniently (the scan reads what the reader refuses)."""
    if delimiter == "\t":
        lines = text.splitlines()
        rows = [line.split("\t") for line in lines if line.strip()]
    else:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        return [], []
    return [h.strip() for h in rows[0]], rows[1:]


def tsv_findings(
    path: str, text: str, scan: TableScan, left: LeftOut, delimiter: str = "\t"
) -> list[Finding]:
    """The findings of a TSV/CSV table's text, after the filter's rows are left out."""
    tsv = delimiter == "\t" and not scan.table_source
    kept = kept_rows(path, text, scan.selection) if tsv else None
    if kept is not None:
        left.add(kept)
        text = "".join(kept.lines)
    header, rows = delimited(text, delimiter)
    columns = {name: [r[i] for r in rows if i < len(r)] for i, name in enumerate(header)}
    return table_findings(path, columns, scan)


def table_findings(path: str, columns: dict[str, list], scan: TableScan) -> list[Finding]:
    kind = UNKNOWN if scan.table_source else table_kind(path)  # a table source: every rule
    personal = scan.table_source or kind.participant_level
    excluded = columns_excluded_in(path, scan.exclude_columns, scan.table_source)
    found = []
    for name, values in columns.items():
        if name in excluded:
            continue
        cells = [str(c).strip() for c in values if c is not None and str(c).strip()]
        cells = [c for c in cells if c.lower() != "n/a"]
        if not cells:
            continue
        listed = scan.rules.listed_field(name)
        rule = column_rule(name) if personal else None
        if listed or rule:
            what, severity = (LISTED_FIELD, listed) if listed else rule  # type: ignore[misc]
            found.append(
                Finding(path, name, what, mask(what, cells[0]), severity, cells=len(cells))
            )
            continue
        scope = FREE_TEXT if personal or not kind.defines(name) else _NAMELESS
        found += _column_values(path, name, cells, scan.rules, scope)
    return found


def _column_values(
    path: str, column: str, cells: Sequence[str], rules: PrivacyRules, scope: Scope
) -> list[Finding]:
    """One finding per kind found in a column's values, with the number of cells holding it."""
    first: dict[tuple[str, str], Finding] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for cell in cells:
        if _is_path_cell(cell) or (_NUMBER.fullmatch(cell) and len(cell) != 8):
            continue  # image paths are scanned as paths; plain numbers say nothing
        for match in find_in_text(cell, rules, scope):
            key = (match.kind, match.severity)
            first.setdefault(key, finding(path, column, match.kind, match.text, match.severity))
            counts[key] += 1
    return [
        Finding(f.file, f.field, f.kind, f.masked, f.severity, cells=counts[key])
        for key, f in first.items()
    ]


def _is_path_cell(cell: str) -> bool:
    lower = cell.lower()
    return lower.endswith((".nii", ".nii.gz")) or lower.startswith("[")
