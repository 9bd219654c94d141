"""Whether a BIDS dataset says its anatomical images are defaced (no image analysis).

A face can be rebuilt from a structural scan; OpenNeuro requires defaced anatomicals. What the
dataset says is taken at its word, from (first found wins): a ``Defaced``-style sidecar field
(``true`` or ``false``), a ``defaced`` entity or word in the file name, a derivative pipeline
named after defacing (``derivatives/pydeface/``), or ``dataset_description.json`` naming a
defacing tool in ``GeneratedBy`` or its description. Anything else is ``unknown``, and the
summary and the card say so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from ..common.storage import Storage
from ..common.rows import SourceRows
from ..common.tables import decode_text

Status = Literal["defaced", "not defaced", "unknown"]
_DEFACE = re.compile(r"defac|deface|skull-?strip|mri_deface|pydeface|quickshear|mideface", re.I)
_FALSE = {"false", "no", "0", "", "none"}


@dataclass(frozen=True)
class Defacing:
    path: str  # the anatomical image
    status: Status
    why: str  # where the dataset says so, or "the dataset does not say"


def defacing_report(rows: SourceRows, storage: Storage) -> tuple[Defacing, ...]:
    """One entry per anatomical image (``anat/`` folder) of a BIDS source."""
    sidecar_says = _sidecar_statements(rows, storage)
    extra = dict(rows.info.extra)
    described = " ".join([extra.get("GeneratedBy", ""), rows.info.description])
    dataset_says = bool(_DEFACE.search(described))
    reports = []
    seen = set()
    for _, _, img in rows.images():
        if img.display in seen or "/anat/" not in f"/{img.display}":
            continue
        seen.add(img.display)
        reports.append(_one(img.display, sidecar_says.get(img.display), dataset_says))
    return tuple(reports)


def _one(path: str, sidecar: tuple[str, bool] | None, dataset_says: bool) -> Defacing:
    if sidecar is not None:
        field, defaced = sidecar
        return Defacing(path, "defaced" if defaced else "not defaced", f"sidecar field {field}")
    name = path.rsplit("/", 1)[-1]
    if _DEFACE.search(name):
        return Defacing(path, "defaced", "file name")
    pipeline = re.match(r"derivatives/([^/]+)/", path)
    if pipeline and _DEFACE.search(pipeline.group(1)):
        return Defacing(path, "defaced", f"derivative pipeline {pipeline.group(1)}")
    if dataset_says:
        return Defacing(path, "defaced", "dataset_description.json or README")
    return Defacing(path, "unknown", "the dataset does not say")


def _sidecar_statements(rows: SourceRows, storage: Storage) -> dict[str, tuple[str, bool]]:
    """Image → (field, defaced?) from the sidecars that describe anatomical images."""
    found: dict[str, tuple[str, bool]] = {}
    for meta in rows.metadata_files:
        if meta.role != "sidecar" or not any("/anat/" in f"/{d}" for d in meta.describes):
            continue
        try:
            with storage.open(meta.url) as f:
                data = json.loads(decode_text(f.read(), meta.display)[0])
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if _DEFACE.search(key):
                said = (key, str(value).strip().lower() not in _FALSE)
                for image in meta.describes:
                    found[image] = said  # deeper sidecars come later and win
    return found
