"""What ``dataset_description.json`` (and the README) say about the dataset, for the card.

Name → title, License → license (the card maps it to the Hub's identifier), Authors, DatasetDOI,
HowToAcknowledge (how to cite), Acknowledgements, ReferencesAndLinks, BIDSVersion; Funding,
EthicsApprovals, DatasetType and GeneratedBy go to ``extra``. The root README becomes the card's
description. A description that is not valid JSON is a warning, not a failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...common.errors import Problem
from ...common.rows import DatasetInfo
from ...common.tables import decode_text

DESCRIPTION = "dataset_description.json"


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
    description: Mapping[str, Any], readme: str, extra: tuple[tuple[str, str], ...] = ()
) -> DatasetInfo:
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
        citation=_text(description.get("HowToAcknowledge")),
        doi=_text(description.get("DatasetDOI")),
        acknowledgements=_text(description.get("Acknowledgements")),
        references=tuple(_strings(description.get("ReferencesAndLinks"))),
        bids_version=_text(description.get("BIDSVersion")),
        extra=tuple((k, v) for k, v in more if v) + extra,
    )


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
