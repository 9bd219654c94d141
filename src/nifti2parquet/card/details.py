"""What the user says about the dataset, for its card: title, description, citation, license name
and column descriptions.

A BIDS source says most of it itself (``dataset_description.json``, the README,
``participants.json``); a table says nothing, so its card would read "NIfTI dataset" with empty
descriptions. The build's options fill in (and, when given, override) what the source says, and
the result is recorded in the manifest, so ``push`` renders the same card.

Column descriptions come from a JSON data dictionary in the BIDS style of ``participants.json``:
``{"age": {"Description": "Age at scan", "Units": "years"}, "group": "patient or control"}``. A
table's own sidecar (``participants.json`` next to ``participants.csv``) is read when no file is
given.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..common.errors import OptionError, os_reason
from ..shards.manifest import info_dict
from ..sources.bids.tables import describe
from ..common.storage import Storage, is_remote
from ..common.rows import Column, DatasetInfo


@dataclass(frozen=True)
class CardDetails:
    """The card's words as the user gives them (empty: what the source says)."""

    license: str = ""  # as people write it (CC0, cc-by-4.0...); the card maps it
    title: str = ""
    description: str = ""
    citation: str = ""  # how to cite, or a BibTeX entry (``@article{...}``)
    license_name: str = ""  # the name of a license the Hub has no identifier for
    column_descriptions: str = ""  # a JSON data dictionary (path or URL)


def card_info(info: DatasetInfo, details: CardDetails) -> dict[str, Any]:
    """The source's DatasetInfo with the user's details on top, as the manifest records it (with
    the year of the build, for the BibTeX entry)."""
    given = {
        "license": details.license.strip(),
        "title": details.title.strip(),
        "description": details.description.strip(),
        "citation": details.citation.strip(),
    }
    merged = dataclasses.replace(info, **{k: v for k, v in given.items() if v})
    data = info_dict(merged)
    data["license_name"] = details.license_name.strip()
    data["year"] = str(datetime.date.today().year)
    return data


def described_columns(
    columns: Sequence[Column], source: str, path: str, storage: Storage
) -> tuple[Column, ...]:
    """The columns with the descriptions of the data dictionary at ``path`` (or of the table's
    own sidecar ``NAME.json`` when ``path`` is empty and there is one)."""
    dictionary = read_dictionary(path or _sidecar(source), storage, required=bool(path))
    if not dictionary:
        return tuple(columns)
    unknown = sorted(set(dictionary) - {c.name for c in columns})
    if unknown and path:
        raise OptionError(
            f"{path}: describes no such column: {', '.join(unknown)} "
            f"(columns: {', '.join(c.name for c in columns)})"
        )
    return tuple(
        dataclasses.replace(c, description=describe(dictionary[c.name]) or c.description)
        if c.name in dictionary
        else c
        for c in columns
    )


def _sidecar(source: str) -> str:
    """``participants.csv`` → ``participants.json`` (tables only; BIDS reads its own)."""
    match = re.match(r"(.+)\.(csv|tsv|parquet|jsonl|ndjson)$", source, re.IGNORECASE)
    return f"{match.group(1)}.json" if match and not is_remote(source) else ""


def read_dictionary(path: str, storage: Storage, required: bool) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with storage.open(path) as f:
            text = f.read().decode("utf-8-sig")
    except FileNotFoundError:
        if required:
            raise OptionError(f"{path}: no such file (--column-descriptions)") from None
        return {}
    except OSError as exc:
        raise OptionError(f"{path}: cannot read ({os_reason(exc)})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OptionError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise OptionError(f"{path}: not a JSON object of column name → description")
    return data


def text_or_file(value: str, option: str) -> str:
    """An option's text, or with ``@PATH`` the text of that file (as curl reads ``-d @file``)."""
    if not value.startswith("@"):
        return value
    try:
        with open(value[1:], encoding="utf-8-sig") as f:
            return f.read()
    except OSError as exc:
        raise OptionError(f"{option} {value}: cannot read ({os_reason(exc)})") from None
