"""Leave named sidecar fields and table columns out of what is published.

Applied to the metadata files' contents as they are read, before anything is merged or typed,
so an excluded field is absent everywhere it would have gone: the merged sidecar JSON, the typed
acquisition fields, the participants/sessions/scans columns, a table source's columns. Names are
matched exactly (JSON keys and TSV headers are case-sensitive in BIDS).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .tables import decode_text

if TYPE_CHECKING:
    from .tables import RawTable


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
    contents: Mapping[str, bytes | str], fields: Collection[str], columns: Collection[str]
) -> dict[str, bytes | str]:
    """Every metadata file's content with the excluded fields (JSON) and columns (TSV) gone."""
    out: dict[str, bytes | str] = {}
    for rel, data in contents.items():
        if isinstance(data, bytes) and rel.endswith(".json"):
            data = without_fields(data, fields)
        elif isinstance(data, bytes) and rel.endswith(".tsv"):
            data = without_columns(data, columns)
        out[rel] = data
    return out


def table_without_columns(raw: RawTable, columns: Collection[str]) -> RawTable:
    """A table source's columns minus the excluded ones."""
    if not columns:
        return raw
    names = [n for n in raw.names if n not in columns]
    return replace(
        raw,
        names=names,
        cells={n: raw.cells[n] for n in names},
        types={n: t for n, t in raw.types.items() if n in names},
    )
