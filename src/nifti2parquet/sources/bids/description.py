"""What ``dataset_description.json`` (and the README) say about the dataset, for the card.

Name → title, License → license (the card maps it to the Hub's identifier), Authors, DatasetDOI,
HowToAcknowledge (how to cite), Acknowledgements, ReferencesAndLinks, BIDSVersion; Funding,
EthicsApprovals, DatasetType and GeneratedBy go to ``extra``. The root README becomes the card's
description (with its format when its name says it: ``README.md`` is Markdown, ``README.txt``
plain text). A description that is not valid JSON is a warning, not a failure.

The year of the citation is never invented: it is the ``date-released`` of ``CITATION.cff``, or
the date of the newest version in ``CHANGES``, with where it came from; otherwise there is none.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from ...common.errors import Problem
from ...common.rows import DatasetInfo
from ...common.tables import decode_text

DESCRIPTION = "dataset_description.json"
CHANGES = "CHANGES"
CITATION_CFF = "CITATION.cff"
_CHANGES_ENTRY = re.compile(r"^\s*(\S+)\s+(\d{4})-(\d{2})-(\d{2})\b", re.M)


def read_description(
    contents: Mapping[str, bytes | str], warnings: list[Problem]
) -> dict[str, Any]:
    data = contents.get(DESCRIPTION)
    if not isinstance(data, bytes):
        warnings.append(Problem(DESCRIPTION, f"not read: {data or 'missing'}", "warning"))
        return {}
    text, problems = decode_text(data, DESCRIPTION)
    warnings += problems
    try:
        description = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON ({exc.msg} at line {exc.lineno}); the card has no title"
        warnings.append(Problem(DESCRIPTION, message, "warning"))
        return {}
    if not isinstance(description, dict):
        warnings.append(Problem(DESCRIPTION, "not a JSON object", "warning"))
        return {}
    return description


def dataset_info(
    description: Mapping[str, Any],
    readme: str,
    readme_format: str = "",
    changes: str = "",
    citation_cff: str = "",
) -> DatasetInfo:
    """The card's information: ``readme_format`` is what the README's name says ("markdown",
    "text" or ""); ``changes`` and ``citation_cff`` are the texts of those files (for the year)."""
    more = [
        ("DatasetType", _text(description.get("DatasetType"))),
        ("Funding", "; ".join(_strings(description.get("Funding")))),
        ("EthicsApprovals", "; ".join(_strings(description.get("EthicsApprovals")))),
        ("GeneratedBy", ", ".join(_generated_by(description.get("GeneratedBy")))),
    ]
    return DatasetInfo(
        title=_text(description.get("Name")),
        license=_text(description.get("License")),
        authors=tuple(_strings(description.get("Authors"))),
        description=readme.strip(),
        description_format=readme_format if readme.strip() else "",
        citation=_text(description.get("HowToAcknowledge")),
        doi=_text(description.get("DatasetDOI")),
        acknowledgements=_text(description.get("Acknowledgements")),
        references=tuple(_strings(description.get("ReferencesAndLinks"))),
        bids_version=_text(description.get("BIDSVersion")),
        extra=tuple((k, v) for k, v in more if v),
        **_release_year(changes, citation_cff),
    )


def _release_year(changes: str, citation_cff: str) -> dict[str, str]:
    """``year`` and ``year_source``: CITATION.cff's ``date-released``, else the newest dated
    version in CHANGES; none when neither says."""
    released = _cff_date(citation_cff)
    if released:
        return {"year": released[:4], "year_source": f"{CITATION_CFF} (date-released {released})"}
    versions = [
        (f"{y}-{m}-{d}", version)
        for version, y, m, d in _CHANGES_ENTRY.findall(changes)
        if _is_date(y, m, d)
    ]
    if versions:
        date, version = max(versions)
        return {"year": date[:4], "year_source": f"{CHANGES} (version {version} of {date})"}
    return {}


def _cff_date(text: str) -> str:
    if not text.strip():
        return ""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return ""
    value = data.get("date-released") if isinstance(data, dict) else None
    if isinstance(value, datetime.date):
        return value.isoformat()[:10]
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value.strip()):
        return value.strip()
    return ""


def _is_date(year: str, month: str, day: str) -> bool:
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [_text(v) for v in value if _text(v)]
    return [_text(value)]


def _generated_by(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    names = []
    for item in value:
        if isinstance(item, dict) and item.get("Name"):
            version = f" {item['Version']}" if item.get("Version") else ""
            names.append(f"{item['Name']}{version}")
    return names
