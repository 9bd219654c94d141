"""Leave named sidecar fields, table columns and filtered-out participants out of what is published.

Applied to the metadata files' contents as they are read, before anything is merged or typed,
so an excluded field is absent everywhere it would have gone: the merged sidecar JSON, the typed
acquisition fields, the participants/sessions/scans columns, a table source's columns. Names are
matched exactly (JSON keys and TSV headers are case-sensitive in BIDS).

``--exclude-column`` is scoped. ``NAME`` applies to participant-level tables (participants,
sessions, scans, phenotype, samples: one row per person, session or scan) and to a table source's
own table; ``GLOB:NAME`` applies to the tables whose path (relative to the dataset) matches GLOB,
any table, so a channel's ``name`` in ``channels.tsv`` is left out only when asked by path. A
column BIDS requires in a participant-level table (``participant_id``...) is refused in the first
form: leaving it out makes the table invalid, so it must be asked for by path.

When ``--subject``/``--session`` leave participants out, their rows are left out of the
participant-level tables too (:func:`kept_rows`): consent follows the filter.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from .column_meanings import table_kind
from .errors import OptionError
from .selection import Selection
from .tables import decode_text

if TYPE_CHECKING:
    from .tables import RawTable


@dataclass(frozen=True)
class ColumnExclusion:
    """One ``--exclude-column``: a column, and the tables it applies to."""

    column: str
    glob: str | None = None  # None: participant-level tables and a table source's own table

    def applies_to(self, path: str, table_source: bool = False) -> bool:
        if self.glob is None:
            return table_source or table_kind(path).participant_level
        return fnmatchcase(path, self.glob) or fnmatchcase(posixpath.basename(path), self.glob)


def column_exclusions(given: Sequence[str]) -> tuple[ColumnExclusion, ...]:
    """``NAME`` or ``GLOB:NAME``, as given on the command line."""
    parsed = []
    for text in given:
        glob, sep, column = text.rpartition(":")
        parsed.append(ColumnExclusion(column, glob) if sep and glob else ColumnExclusion(text))
    return tuple(parsed)


def check_column_exclusions(given: Sequence[str]) -> None:
    """Refuse, in one line, to leave out a column BIDS requires in participant-level tables
    without naming the tables (``GLOB:NAME``)."""
    required = {
        "participants.tsv": "participants.tsv",
        "sub-x/sub-x_sessions.tsv": "sessions.tsv",
        "sub-x/sub-x_scans.tsv": "scans.tsv",
        "phenotype/x.tsv": "phenotype tables",
    }
    for exclusion in column_exclusions(given):
        if exclusion.glob is not None:
            continue
        for path, what in required.items():
            if exclusion.column in table_kind(path).required:
                raise OptionError(
                    f"--exclude-column {exclusion.column}: BIDS requires this column in {what}; "
                    f"leaving it out makes the table invalid (to do it anyway, name the tables: "
                    f"--exclude-column '{posixpath.basename(path)}:{exclusion.column}')"
                )


def columns_excluded_in(path: str, given: Sequence[str], table_source: bool = False) -> set[str]:
    """The columns left out of the table at ``path``."""
    return {e.column for e in column_exclusions(given) if e.applies_to(path, table_source)}


def without_fields(data: bytes, fields: Collection[str]) -> bytes:
    """A JSON object's bytes without the named keys (at any depth); other content unchanged.

    Content that is not a JSON object is returned as it is: the reader reports it as before.
    """
    if not fields:
        return data
    try:
        parsed = json.loads(decode_text(data, "")[0])
    except ValueError:
        return data
    if not isinstance(parsed, dict):
        return data
    return json.dumps(_drop(parsed, set(fields)), ensure_ascii=False).encode("utf-8")


def _drop(value: Any, fields: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop(v, fields) for k, v in value.items() if k not in fields}
    if isinstance(value, list):
        return [_drop(v, fields) for v in value]
    return value


def without_columns(data: bytes, columns: Collection[str]) -> bytes:
    """A TSV's bytes without the named columns (BIDS TSV: tab-separated, no quoting)."""
    if not columns:
        return data
    text = decode_text(data, "")[0]
    lines = text.splitlines()
    if not lines:
        return data
    header = [h.strip() for h in lines[0].split("\t")]
    keep = [i for i, name in enumerate(header) if name not in columns]
    if len(keep) == len(header):
        return data
    rows = [line.split("\t") for line in lines]
    kept = ["\t".join(row[i] if i < len(row) else "" for i in keep) for row in rows]
    return ("\n".join(kept) + "\n").encode("utf-8")


def without_excluded(
    contents: Mapping[str, bytes | str], fields: Collection[str], columns: Sequence[str]
) -> dict[str, bytes | str]:
    """Every metadata file's content with the excluded fields (JSON) and columns (TSV) gone."""
    check_column_exclusions(columns)
    out: dict[str, bytes | str] = {}
    for rel, data in contents.items():
        if isinstance(data, bytes) and rel.endswith(".json"):
            data = without_fields(data, fields)
        elif isinstance(data, bytes) and rel.endswith(".tsv"):
            data = without_columns(data, columns_excluded_in(rel, columns))
        out[rel] = data
    return out


def table_without_columns(raw: RawTable, columns: Sequence[str], path: str = "") -> RawTable:
    """A table source's columns minus the excluded ones (the unscoped ones, and those whose
    GLOB matches the table's path)."""
    names_out = columns_excluded_in(path, columns, table_source=True)
    if not names_out:
        return raw
    names = [n for n in raw.names if n not in names_out]
    return replace(
        raw,
        names=names,
        cells={n: raw.cells[n] for n in names},
        types={n: t for n, t in raw.types.items() if n in names},
    )


# consent follows the filter ----------------------------------------------------------------------
@dataclass(frozen=True)
class KeptRows:
    """A participant-level table's rows that stay, and whom the others were about."""

    lines: list[str]  # the header and the kept rows, as written (line endings kept)
    subjects_out: frozenset[str]
    sessions_out: frozenset[str]  # "sub-01/ses-02"

    @property
    def changed(self) -> bool:
        return bool(self.subjects_out or self.sessions_out)


def kept_rows(path: str, text: str, selection: Selection) -> KeptRows | None:
    """The rows of a participant-level table that the selection publishes; None when the table
    is not one (or the selection filters nothing). Rows are matched by ``participant_id``,
    ``session_id`` (a sessions table is about the subject in its name) or a scans table's
    ``filename`` (its ``ses-`` folder)."""
    if not selection.filters_participants or not table_kind(path).participant_level:
        return None
    lines = text.splitlines(keepends=True)
    if not lines:
        return None
    header = [h.strip() for h in lines[0].rstrip("\r\n").split("\t")]
    subject_of = _subject_in_name(path)
    kept, subjects_out, sessions_out = [lines[0]], set(), set()
    for line in lines[1:]:
        cells = dict(zip(header, (c.strip() for c in line.rstrip("\r\n").split("\t"))))
        subject = cells.get("participant_id") or subject_of
        session = cells.get("session_id") or _session_in(cells.get("filename", ""))
        if subject and not selection.keeps_subject(subject):
            subjects_out.add(subject)
        elif session and not selection.keeps_session(session):
            sessions_out.add(f"{subject or ''}/{session}")
        else:
            kept.append(line)
    return KeptRows(kept, frozenset(subjects_out), frozenset(sessions_out))


def _subject_in_name(path: str) -> str:
    for chunk in posixpath.basename(path).split("_"):
        if chunk.startswith("sub-"):
            return chunk.split(".")[0]
    return ""


def _session_in(filename: str) -> str:
    for part in filename.replace("\\", "/").split("/"):
        if part.startswith("ses-"):
            return part
    return ""


@dataclass
class LeftOut:
    """Whom the filter left out of the participant-level tables: counted, never named."""

    subjects: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)

    def add(self, kept: KeptRows) -> None:
        self.subjects |= kept.subjects_out
        self.sessions |= kept.sessions_out

    def record(self) -> dict[str, int]:
        return {
            "participants_left_out": len(self.subjects),
            "sessions_left_out": len(self.sessions),
        }
