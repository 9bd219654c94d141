"""What the user says about the dataset, for its card: title, description, citation, license name
and column descriptions.

A BIDS source says most of it itself (``dataset_description.json``, the README,
``participants.json``); a table says nothing, so its card would read "NIfTI dataset" with empty
descriptions. The build's options fill in (and, when given, override) what the source says, and
the result is recorded in the manifest, so ``push`` renders the same card.

Column descriptions come from a data dictionary (:mod:`nifti2parquet.common.data_dictionary`):
the source's own (a BIDS dataset's, a table's sidecar), then the one ``--column-descriptions``
names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..common.data_dictionary import with_descriptions
from ..common.errors import OptionError, os_reason
from ..common.rows import Column, DatasetInfo
from .plain_text import format_of


@dataclass(frozen=True)
class CardDetails:
    """The card's words as the user gives them (empty: what the source says)."""

    license: str = ""  # as people write it (CC0, cc-by-4.0...); the card maps it
    title: str = ""
    description: str = ""
    description_format: str = ""  # "markdown" or "text" (``--description @about.md``); "": its look
    citation: str = ""  # how to cite, or a BibTeX entry (``@article{...}``)
    license_name: str = ""  # the name of a license the Hub has no identifier for
    column_descriptions: str = ""  # a JSON data dictionary (path or URL)


def card_info(info: DatasetInfo, details: CardDetails) -> DatasetInfo:
    """The source's DatasetInfo with the user's details on top, as the manifest records it. The
    citation's year is the source's (a BIDS dataset's CITATION.cff or CHANGES), never the day of
    the build: a dataset from 2012 built today is not from today."""
    given = {
        "license": details.license.strip(),
        "title": details.title.strip(),
        "description": details.description.strip(),
        "citation": details.citation.strip(),
    }
    if given["description"]:
        given["description_format"] = details.description_format
    return dataclasses.replace(
        info,
        **{k: v for k, v in given.items() if v or k == "description_format"},
        license_name=details.license_name.strip(),
    )


def described_columns(
    columns: Sequence[Column], dictionary: dict[str, Any], path: str
) -> tuple[Column, ...]:
    """The columns with the descriptions of the user's data dictionary (read from ``path``,
    ``--column-descriptions``): every name it describes must be a column."""
    unknown = sorted(set(dictionary) - {c.name for c in columns})
    if unknown:
        raise OptionError(
            f"{path}: describes no such column: {', '.join(unknown)} "
            f"(columns: {', '.join(c.name for c in columns)})"
        )
    return with_descriptions(columns, dictionary)


def text_format(value: str) -> str:
    """What an option's ``@PATH`` says of its text: "markdown" (``.md``), "text" (``.txt``), or ""
    (plain text given on the command line, or a file whose name does not say)."""
    return format_of(value[1:]) if value.startswith("@") else ""


def text_or_file(value: str, option: str) -> str:
    """An option's text, or with ``@PATH`` the text of that file (as curl reads ``-d @file``)."""
    if not value.startswith("@"):
        return value
    try:
        with open(value[1:], encoding="utf-8-sig") as f:
            return f.read()
    except OSError as exc:
        raise OptionError(f"{option} {value}: cannot read ({os_reason(exc)})") from None
