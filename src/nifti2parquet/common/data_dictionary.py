"""Data dictionaries: what each column means, in the BIDS style of ``participants.json``
(``{"age": {"Description": "Age at scan", "Units": "years"}, "group": "patient or control"}``).

A BIDS dataset has them for its tables, a table of files may have one beside it
(``participants.json`` next to ``participants.csv``), and ``--column-descriptions`` names one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from .errors import OptionError, os_reason
from .rows import Column
from .storage import Storage


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


def with_descriptions(columns: Sequence[Column], dictionary: dict[str, Any]) -> tuple[Column, ...]:
    """The columns, each one the dictionary describes with that description."""
    return tuple(
        dataclasses.replace(c, description=describe(dictionary[c.name]) or c.description)
        if c.name in dictionary
        else c
        for c in columns
    )


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
