"""Every file the build publishes besides the images: what is in it, read as what it is.

Each file of the ``files`` config (and each metadata file a row was read from) is read once, by
its kind:

* JSON (sidecars, ``dataset_description.json``, derivative and dataset-level JSON): every key by
  name (DICOM keywords: ``PatientName``...) and every string value as free text; a sidecar's
  finding names the image it describes. In ``dataset_description.json``, the fields that credit
  people (``Authors``, ``Acknowledgements``, ``HowToAcknowledge``, ``Funding``...) are read for
  the user's list, the DICOM person-name form and birth dates only: they name the authors;
* tables (TSV, CSV; a table source's own table in any format): :mod:`.privacy_tables`;
* text (README, CHANGES, ``.txt``, ``.md``, ``.rst``, and ``.sh``/``.py`` under ``code/``): line by
  line, a finding naming the line (the first line of each kind). Documentation names its authors
  and contacts and dates its releases: an e-mail address or a phone number there is to review,
  and the dates of a line that starts with a version or a date (a release note) are not
  findings, unless a birth keyword or a name is near;
* DICOM files (named ``.dcm``/``.ima``/``.dcm.gz``, or with the ``DICM`` preamble): header only,
  :mod:`.privacy_dicom`; the findings of a folder of them are one per attribute, with a count.

A file over 16 MiB is read up to there, with a ``not scanned`` finding for the rest. A file that
cannot be read or parsed is reported by the source, not here.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import posixpath
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..common.column_meanings import metadata_field
from ..common.dicom_profile import has_dicom_preamble, is_dicom_name, may_be_dicom, read_dicom
from ..common.exclusions import LeftOut
from ..common.rows import FileRef, MetadataFile
from ..common.storage import CHECK_BLOCK, READ_BLOCK, Storage
from ..common.tables import decode_text
from .privacy_dicom import dicom_attributes
from .privacy_record import Finding, finding
from .privacy_rules import LISTED_FIELD, NOT_SCANNED, PrivacyRules, Severity, field_rule
from .privacy_tables import TableScan, table_findings, tsv_findings
from .privacy_text import FREE_TEXT, Scope, find_in_text

TEXT_LIMIT = 16 << 20
DESCRIPTION = "dataset_description.json"
# dataset_description.json fields that credit people: they name the authors, who publish them
_CREDITS = {
    "Authors",
    "Acknowledgements",
    "HowToAcknowledge",
    "Funding",
    "ReferencesAndLinks",
    "EthicsApprovals",
    "DatasetDOI",
    "License",
    "GeneratedBy",
    "SourceDatasets",
}
_CREDIT = Scope(names=False, contacts=None, dates=False)
# a field the schema defines: its words are not a person's name, and a date in it is the build of
# a software version or a device's (the acquisition's dates are DICOM fields, ruled by name)
_DEFINED = Scope(names=False, dates=False)
# Documentation names its authors and contacts and dates its releases: an e-mail address or a
# phone number there is to review, and a line that starts with a version or a date ("1.0.2
# 2019-03-14", "7/10/2012: initial release") is a release note whose dates are not findings.
_DOCUMENT = Scope(contacts="review")
_RELEASE = re.compile(r"^\s*(?:[-*#]\s*)*(?:v?\d+(?:\.\d+)+\S*\s|\d[\d./-]{5,}\d[:\s])")
_CHANGES_ENTRY = re.compile(r"^\s*(?:[-*#]\s*)*[A-Za-z]*\d[\w.-]*\s")  # CHANGES: rev007 2015-..
_RELEASE_LINE = Scope(contacts="review", dates=False)


@dataclass(frozen=True, slots=True)
class Published:
    """One published file to read: where it is, how the user knows it, what it describes."""

    display: str
    ref: FileRef | MetadataFile  # what it is read from: its url is made when it is read
    size: int
    describes: str = ""  # a sidecar: the image it describes (and how many more)
    table_source: bool = False

    @property
    def url(self) -> str:
        return self.ref.url


@dataclass(frozen=True)
class FileScan:
    """What a file scan needs: the rules, and what the build leaves out."""

    table: TableScan
    exclude_fields: tuple[str, ...] = ()
    dicom_tags_excluded: bool = False

    @property
    def rules(self) -> PrivacyRules:
        return self.table.rules


def kind_of(path: str, head: bytes = b"") -> str:
    """``json``, ``tabular``, ``text``, ``dicom`` or "" (not read) for a published file."""
    lower = path.lower()
    name = posixpath.basename(lower)
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".tsv", ".csv", ".parquet", ".jsonl", ".ndjson")):
        return "tabular"
    if name.startswith(("readme", "changes")) and not name.endswith((".gz", ".pdf")):
        return "text"
    if lower.endswith((".txt", ".md", ".rst")):
        return "text"
    if lower.endswith((".sh", ".py")) and (lower.startswith("code/") or "/code/" in lower):
        return "text"
    if is_dicom_name(name) or (may_be_dicom(name) and has_dicom_preamble(head)):
        return "dicom"
    return ""


def scan_file(
    file: Published, kind: str, storage: Storage, scan: FileScan, left: LeftOut
) -> list[Finding]:
    """The findings of one published file of ``kind``."""
    if kind == "dicom":
        return _dicom_findings(file, storage, scan)
    data = storage.read(file.url, TEXT_LIMIT + 1, _block(file))
    found = []
    if len(data) > TEXT_LIMIT:
        data = data[:TEXT_LIMIT]
        limit = f"<beyond {TEXT_LIMIT >> 20} MiB of {file.size:,}>"
        found.append(Finding(file.display, "content", NOT_SCANNED, limit, "review"))
    if kind == "json":
        return found + _json_findings(file, data, scan)
    if kind == "tabular":
        return found + _table_findings(file, data, storage, scan, left)
    return found + _text_findings(file, data, scan.rules)


def _block(file: Published) -> int:
    """Read-ahead for a remote file: small for the small files most of these are."""
    return READ_BLOCK if file.size > CHECK_BLOCK else CHECK_BLOCK


def _json_findings(file: Published, data: bytes, scan: FileScan) -> list[Finding]:
    parsed = json.loads(decode_text(data, file.display)[0])
    if not isinstance(parsed, dict):
        return []
    description = posixpath.basename(file.display) == DESCRIPTION
    found: dict[tuple[str, str, str], Finding] = {}
    values: dict[tuple[str, str, str], int] = {}
    for key, value in _leaves(parsed, set(scan.exclude_fields)):
        field = re.sub(r"\[\d+\]", "", key) if "[" in key else key  # a list's items: one field
        for what, text, severity in _json_value(field, value, scan.rules, description):
            at = (field, what, severity)
            found.setdefault(at, finding(file.display, field, what, text, severity, file.describes))
            values[at] = values.get(at, 0) + 1
    return [
        dataclasses.replace(f, cells=values[at]) if values[at] > 1 else f for at, f in found.items()
    ]


def _json_value(
    field: str, value: Any, rules: PrivacyRules, description: bool
) -> list[tuple[str, str, Severity]]:
    """(kind, matched text, severity) of one JSON value: by its key's name (a DICOM keyword...),
    or by what its text holds, read as the BIDS schema says the key is meant."""
    top = field.split(".", 1)[0]
    last = field.rsplit(".", 1)[-1]
    listed = rules.listed_field(last)
    rule = field_rule(last)
    if listed or rule:
        text = value if isinstance(value, str) else json.dumps(value)
        return [(LISTED_FIELD, text, listed)] if listed else [(rule[0], text, rule[1])]
    if not isinstance(value, str):
        return []
    meaning = metadata_field(last) if "." not in field else None
    if meaning is not None and meaning.path:
        return []  # a path or a BIDS URI: the paths are scanned as paths
    if (description and top in _CREDITS) or last in _CREDITS:  # an atlas's Authors too
        scope = _CREDIT
    else:
        scope = _DEFINED if meaning is not None else FREE_TEXT
    return [(m.kind, m.text, m.severity) for m in find_in_text(value, rules, scope)]


def _leaves(data: Any, excluded: set[str], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf of a JSON value, skipping the excluded keys."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in excluded:
                continue
            if isinstance(value, (dict, list)):
                yield from _leaves(value, excluded, f"{prefix}{key}.")
            elif _kept(value):  # most of a sidecar: no generator made for it
                yield f"{prefix}{key}", value
    elif isinstance(data, list) and any(isinstance(v, (dict, list, str)) for v in data):
        for n, value in enumerate(data):
            yield from _leaves(value, excluded, f"{prefix[:-1]}[{n}].")
    elif _kept(data):
        yield prefix[:-1], data


def _kept(value: Any) -> bool:
    """A leaf worth scanning: neither null nor blank text."""
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def _table_findings(
    file: Published, data: bytes, storage: Storage, scan: FileScan, left: LeftOut
) -> list[Finding]:
    lower = file.display.lower()
    table = TableScan(
        scan.rules, scan.table.exclude_columns, scan.table.selection, file.table_source
    )
    if lower.endswith((".tsv", ".csv")):
        text = decode_text(data, file.display)[0]
        return tsv_findings(file.display, text, table, left, "\t" if lower.endswith("tsv") else ",")
    from ..common.tables import read_raw_table

    raw = read_raw_table(file.url, storage)
    return table_findings(file.display, raw.cells, table)


def _text_findings(file: Published, data: bytes, rules: PrivacyRules) -> list[Finding]:
    text = decode_text(data, file.display)[0]
    changes = posixpath.basename(file.display).lower().startswith("changes")
    found: dict[tuple[str, str], Finding] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        release = _RELEASE.match(line) or (changes and _CHANGES_ENTRY.match(line))
        scope = _RELEASE_LINE if release else _DOCUMENT
        for m in find_in_text(line, rules, scope):
            key = (m.kind, m.severity)
            if key not in found:  # each kind once per file, at its first line
                found[key] = finding(file.display, f"line {number}", m.kind, m.text, m.severity)
    return list(found.values())


def _dicom_findings(file: Published, storage: Storage, scan: FileScan) -> list[Finding]:
    with storage.open(file.url, _block(file)) as f:
        head = f.read(2)
        f.seek(0)
        stream = gzip.GzipFile(fileobj=f) if head == b"\x1f\x8b" else f
        dataset = read_dicom(stream)
    return [
        finding(file.display, a.keyword, a.kind, a.value, a.severity)
        for a in dicom_attributes(dataset, scan.rules, scan.dicom_tags_excluded)
    ]


def grouped_by_folder(findings: Sequence[Finding]) -> list[Finding]:
    """DICOM findings once per folder, attribute and kind, counting the files that hold them (a
    series of 200 files holds the same PatientName 200 times)."""
    first: dict[tuple[str, str, str, str], Finding] = {}
    files: Counter[tuple[str, str, str, str]] = Counter()
    for f in findings:
        key = (posixpath.dirname(f.file), f.field, f.kind, f.severity)
        first.setdefault(key, f)
        files[key] += 1
    grouped = []
    for key, f in first.items():
        n = files[key]
        where = f.file if n == 1 else f"{key[0] or '.'}/"
        grouped.append(Finding(where, f.field, f.kind, f.masked, f.severity, files=n))
    return grouped
