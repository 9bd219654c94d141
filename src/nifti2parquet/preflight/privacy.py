"""The privacy preflight: what in the files could identify a participant, found before publishing.

Every build and ``inspect`` runs it, reading no voxel: each image's header text fields and its
extensions (an embedded DICOM header parsed with pydicom), every sidecar JSON and table the rows
were made from, and every path. Each :class:`Finding` names the file that holds the value (and,
for a sidecar, the image it describes), the field or column, the kind, a masked value (kind and
length, never a part of the value) and a severity, ``identifying`` or ``review``
(:mod:`.privacy_rules`). ``push`` refuses a public repo while identifying findings exist.

It is a preflight, not a guarantee of de-identification: it does not look at voxels (a face in
an anatomical image), at free-text meaning, or at combinations of harmless-looking values
(docs/explanation/privacy.md).
"""

from __future__ import annotations

import io
import json
import posixpath
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from ..common.errors import InputError
from ..common.nifti import HEADER_BLOCK_LIMIT, read_header_block
from ..common.nifti.header_text import DICOM_CODE, Extension, extensions, text_fields
from ..common.rows import FileRef, MetadataFile, SourceRows
from ..common.storage import CHECK_BLOCK, Storage
from ..common.tables import decode_text, read_raw_table
from ..common.units import count
from .defacing import Defacing, defacing_report
from .privacy_record import MAX_LISTED, finding_line, record_lines
from .privacy_rules import (
    DATE,
    DICOM_TAG,
    EMAIL,
    ID_NUMBER,
    LISTED,
    LISTED_FIELD,
    NAME,
    NOT_SCANNED,
    PHONE,
    PrivacyRules,
    Severity,
    column_rule,
    field_rule,
    looks_like_full_date,
    mask,
)


@dataclass(frozen=True)
class Finding:
    """One value that may identify a participant, masked."""

    file: str  # the file that holds the value (a folder, for a path finding)
    field: str  # header field, extension and tag, JSON key, table column, or "path"
    kind: str
    masked: str  # "<date of birth, 10 chars>": kind and length only
    severity: Severity
    describes: str = ""  # for a sidecar: the image it describes (and how many more)
    cells: int = 1  # table columns: how many cells hold such a value

    def line(self) -> str:
        return finding_line(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finding(
    file: str,
    where: str,
    kind: str,
    value: str,
    severity: Severity,
    describes: str = "",
    cells: int = 1,
) -> Finding:
    """A finding of ``value``, which is masked here and kept nowhere."""
    return Finding(file, where, kind, mask(kind, value), severity, describes, cells)


@dataclass(frozen=True)
class PrivacyOptions:
    """What the scan looks for besides its built-in rules, and what the build leaves out."""

    rules: PrivacyRules = field(default_factory=PrivacyRules)
    exclude_fields: tuple[str, ...] = ()
    exclude_columns: tuple[str, ...] = ()
    threads: int = 16


@dataclass(frozen=True)
class PrivacyReport:
    """What was scanned and found: counts, masked findings, defacing per anatomical image."""

    images: int
    metadata_files: int
    paths: int
    findings: tuple[Finding, ...]
    defacing: tuple[Defacing, ...] = ()
    excluded_fields: tuple[str, ...] = ()
    excluded_columns: tuple[str, ...] = ()
    known_identifiers: int = 0  # how many the user's list held (the list itself is not kept)
    seconds: float = 0.0  # how long the scan took

    @property
    def identifying(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "identifying")

    def summary(self) -> str:
        files = count(self.metadata_files, "metadata file")
        scanned = f"{count(self.images, 'image')}, {files} scanned"
        review = len(self.findings) - len(self.identifying)
        if not self.identifying:
            more = f", {review:,} to review" if review else ""
            return f"privacy: {scanned}; no identifying fields found{more}"
        return (
            f"privacy: {scanned}; {len(self.identifying):,} identifying, {review:,} to review "
            f"(values masked; see docs/how-to/clean-public-release.md)"
        )

    def lines(self) -> list[str]:
        """The summary, the findings (the first MAX_LISTED) and the defacing line."""
        return record_lines(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        kinds: dict[str, Counter[str]] = {}
        for f in self.findings:
            kinds.setdefault(f.kind, Counter())[f.severity] += 1
        return {
            "scanned": True,
            "images_scanned": self.images,
            "metadata_files_scanned": self.metadata_files,
            "paths_scanned": self.paths,
            "identifying": len(self.identifying),
            "review": len(self.findings) - len(self.identifying),
            "kinds": {k: dict(c) for k, c in sorted(kinds.items())},
            "findings": [f.to_dict() for f in self.findings],
            "defacing": defacing_dict(self.defacing),
            "excluded_fields": list(self.excluded_fields),
            "excluded_columns": list(self.excluded_columns),
            "known_identifiers_searched": self.known_identifiers,
            "seconds": round(self.seconds, 4),
            "summary": self.summary(),
        }


def defacing_dict(defacing: Sequence[Defacing]) -> dict[str, Any]:
    counts = Counter(d.status for d in defacing)
    return {
        "anatomical_images": len(defacing),
        "defaced": counts["defaced"],
        "not_defaced": counts["not defaced"],
        "unknown": counts["unknown"],
        "images": [{"path": d.path, "status": d.status, "why": d.why} for d in defacing],
        "summary": defacing_line(defacing) if defacing else "",
    }


def defacing_line(defacing: Sequence[Defacing]) -> str:
    counts = Counter(d.status for d in defacing)
    line = (
        f"defacing: {count(len(defacing), 'anatomical image')}: {counts['defaced']:,} said "
        f"defaced, {counts['not defaced']:,} said not defaced, {counts['unknown']:,} unknown"
    )
    if counts["unknown"]:
        line += " (the dataset does not say; check them before a public release)"
    return line


def scan_privacy(
    rows: SourceRows, storage: Storage, options: PrivacyOptions | None = None
) -> PrivacyReport:
    """Scan what ``rows`` would publish: headers, metadata files, paths. Reads no voxel."""
    options = options or PrivacyOptions()
    started = time.monotonic()
    images = _unique_images(rows)
    findings = list(_header_findings(images, storage, options))
    metadata = [m for m in rows.metadata_files if m.role != "description"]
    metadata += _other_metadata(rows)
    for meta in metadata:
        findings += _metadata_findings(meta, storage, options)
    paths = [img.name for img in images]  # the paths as published (stored), every file once
    paths += [f.name for f in rows.other_files if f.name not in set(paths)]
    findings += _path_findings(paths, options.rules)
    defacing = defacing_report(rows, storage)
    return PrivacyReport(
        images=len(images),
        metadata_files=len(metadata),
        paths=len(paths),
        findings=tuple(findings),
        defacing=defacing,
        excluded_fields=options.exclude_fields,
        excluded_columns=options.exclude_columns,
        known_identifiers=len(options.rules.known),
        seconds=time.monotonic() - started,
    )


def _other_metadata(rows: SourceRows) -> list[MetadataFile]:
    """The JSON and TSV files the ``files`` config publishes that no row was read from (events,
    derivative sidecars, dataset-level JSON...): scanned as sidecars and tables too."""
    listed = {m.display for m in rows.metadata_files}
    roles = {".json": "sidecar", ".tsv": "table"}
    return [
        MetadataFile(f.display, f.url, roles[ext])  # type: ignore[arg-type]
        for f in rows.other_files
        if f.display not in listed and (ext := posixpath.splitext(f.name.lower())[1]) in roles
    ]


def _unique_images(rows: SourceRows) -> list[FileRef]:
    seen: dict[str, FileRef] = {}
    for _, _, img in rows.images():
        seen.setdefault(img.display, img)
    return list(seen.values())


# headers ----------------------------------------------------------------------------------------
def _header_findings(
    images: Sequence[FileRef], storage: Storage, options: PrivacyOptions
) -> Iterator[Finding]:
    def one(img: FileRef) -> list[Finding]:
        try:
            with storage.open(img.url, CHECK_BLOCK) as f:
                block = read_header_block(f)
        except (OSError, ValueError):
            return []  # the image checks report unreadable files; nothing to scan here
        found = []
        for name, text in text_fields(block):
            found += _text_findings(img.display, name, text, options.rules, "review")
        for ext in extensions(block):
            found += _extension_findings(img.display, ext, options.rules)
        if not block.complete:
            limit = f"{HEADER_BLOCK_LIMIT >> 20} MiB"
            size = block.header.vox_offset
            found.append(
                Finding(
                    img.display,
                    "extensions",
                    NOT_SCANNED,
                    f"<beyond {limit} of {size:,}>",
                    "review",
                )
            )
        return found

    with ThreadPoolExecutor(max(1, options.threads), thread_name_prefix="n2p-privacy") as pool:
        for found in pool.map(one, images):
            yield from found


def _text_findings(
    file: str, where: str, text: str, rules: PrivacyRules, severity: Severity, describes: str = ""
) -> list[Finding]:
    """Header text and free text: what it looks like (a date, an ID, a listed name...)."""
    found = [
        _finding(file, where, m.kind, m.text, severity, describes) for m in rules.classify(text)
    ]
    return found + _pattern_findings(file, where, text, rules, describes)


def _pattern_findings(
    file: str, where: str, text: str, rules: PrivacyRules, describes: str = ""
) -> list[Finding]:
    """The rules file's patterns, with the severity the file gives them."""
    listed = rules.listed_pattern(text)
    if not listed:
        return []
    match, severity = listed
    return [_finding(file, where, match.kind, match.text, severity, describes)]


def _extension_findings(file: str, ext: Extension, rules: PrivacyRules) -> list[Finding]:
    where = f"extension {ext.number} (code {ext.code})"
    if ext.code == DICOM_CODE:
        return _dicom_findings(file, where + " DICOM", ext.content, rules)
    text = ext.content.split(b"\0", 1)[0]
    if not text or not _looks_like_text(text):
        return []
    return _text_findings(file, where, text.decode("utf-8", "replace"), rules, "review")


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13) or b >= 0xC0)
    return printable >= len(sample) * 0.9


def _dicom_findings(file: str, where: str, content: bytes, rules: PrivacyRules) -> list[Finding]:
    """Each identifying tag of an embedded DICOM header is its own finding."""
    try:
        elements = _dicom_elements(content)
    except Exception:  # any failure of a parser fed untrusted bytes: report, never crash
        return [
            Finding(
                file, where, DICOM_TAG, mask("unparsed DICOM", content.decode("latin-1")), "review"
            )
        ]
    found = []
    for keyword, group, value in elements:
        rule = field_rule(keyword)
        listed = rules.listed_field(keyword)
        if group == 0x0010:
            kind = rule[0] if rule else DICOM_TAG
            found.append(_finding(file, f"{where} {keyword}", kind, value, "identifying"))
        elif listed:
            found.append(_finding(file, f"{where} {keyword}", LISTED_FIELD, value, listed))
        elif rule:
            kind, severity = rule
            found.append(_finding(file, f"{where} {keyword}", kind, value, severity))
        elif rules.known_in(value):
            found.append(_finding(file, f"{where} {keyword}", LISTED, value, "review"))
    return found


def _dicom_elements(content: bytes) -> list[tuple[str, int, str]]:
    """(keyword, group, text) of every element with a value, parsed by pydicom. Its warnings
    are silenced: they would garble the output, and some quote the content."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(io.BytesIO(content), force=True, defer_size=1 << 20)
        elements = []
        for element in dataset.iterall():
            value = _dicom_text(element)
            if value:
                elements.append((element.keyword or str(element.tag), element.tag.group, value))
    return elements


def _dicom_text(element: Any) -> str:
    if element.VR == "SQ" or element.value is None:
        return ""
    try:
        return str(element.value).strip()
    except Exception:  # a value pydicom cannot convert: still present, counted by its bytes
        return "?" * len(bytes(element.value or b""))


# metadata files ---------------------------------------------------------------------------------
def _metadata_findings(
    meta: MetadataFile, storage: Storage, options: PrivacyOptions
) -> list[Finding]:
    try:
        if meta.role == "sidecar":
            return _sidecar_findings(meta, storage, options)
        return _table_findings(meta, storage, options)
    except (OSError, ValueError, InputError):
        return []  # the source reported what it could not read


def _describes(meta: MetadataFile) -> str:
    if not meta.describes:
        return ""
    more = len(meta.describes) - 1
    return meta.describes[0] + (f" and {more:,} more" if more else "")


def _sidecar_findings(
    meta: MetadataFile, storage: Storage, options: PrivacyOptions
) -> list[Finding]:
    with storage.open(meta.url) as f:
        data = json.loads(decode_text(f.read(), meta.display)[0])
    if not isinstance(data, dict):
        return []
    found = []
    describes = _describes(meta)
    for key, value in _flat(data, options.exclude_fields):
        text = value if isinstance(value, str) else json.dumps(value)
        if not text.strip() or value is None:
            continue
        listed = options.rules.listed_field(key.rsplit(".", 1)[-1])
        rule = field_rule(key.rsplit(".", 1)[-1])
        if listed:
            found.append(_finding(meta.display, key, LISTED_FIELD, text, listed, describes))
        elif rule:
            kind, severity = rule
            found.append(_finding(meta.display, key, kind, text, severity, describes))
        elif isinstance(value, str):
            found += _value_findings(meta.display, key, value, options.rules, describes)
    return found


def _flat(data: dict[str, Any], excluded: Iterable[str], prefix: str = "") -> Iterator[tuple]:
    """(dotted key, value) of every leaf of a JSON object, skipping the excluded keys."""
    skip = set(excluded)
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            yield from _flat(value, skip, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _value_findings(
    file: str,
    where: str,
    value: str,
    rules: PrivacyRules,
    describes: str = "",
    any_date: bool = False,
) -> list[Finding]:
    """A free value (sidecar, table cell, path name): who it names (identifying), or a date
    (review: a whole value that is a date, or with ``any_date`` a date anywhere in it)."""
    found = []
    for m in rules.classify(value):
        if m.kind in (LISTED, EMAIL, PHONE):
            kind = NAME if m.kind == LISTED else m.kind
            found.append(_finding(file, where, kind, m.text, "identifying", describes))
        elif m.kind == DATE and (any_date or looks_like_full_date(value)):
            found.append(_finding(file, where, DATE, m.text, "review", describes))
    return found + _pattern_findings(file, where, value, rules, describes)


def _table_findings(meta: MetadataFile, storage: Storage, options: PrivacyOptions) -> list[Finding]:
    raw = read_raw_table(meta.url, storage)
    found = []
    for name in raw.names:
        if name in options.exclude_columns:
            continue
        cells = [str(c).strip() for c in raw.cells[name] if c is not None and str(c).strip()]
        cells = [c for c in cells if c.lower() != "n/a"]
        if not cells:
            continue
        rule = column_rule(name)
        listed = options.rules.listed_field(name)
        if listed or rule:
            kind, severity = (LISTED_FIELD, listed) if listed else rule  # type: ignore[misc]
            found.append(
                Finding(meta.display, name, kind, mask(kind, cells[0]), severity, cells=len(cells))
            )
            continue
        found += _column_value_findings(meta.display, name, cells, options.rules)
    return found


def _column_value_findings(
    file: str, column: str, cells: Sequence[str], rules: PrivacyRules
) -> list[Finding]:
    """One finding per kind found in a column's values, with the number of cells holding it."""
    first: dict[tuple[str, str], Finding] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for cell in cells:
        if _is_path_cell(cell):
            continue  # image paths are scanned as paths
        for f in _value_findings(file, column, cell, rules):
            key = (f.kind, f.severity)
            first.setdefault(key, f)
            counts[key] += 1
    return [
        Finding(f.file, f.field, f.kind, f.masked, f.severity, cells=counts[key])
        for key, f in first.items()
    ]


def _is_path_cell(cell: str) -> bool:
    lower = cell.lower()
    return lower.endswith((".nii", ".nii.gz")) or lower.startswith("[")


# paths ------------------------------------------------------------------------------------------
def _path_findings(paths: Iterable[str], rules: PrivacyRules) -> list[Finding]:
    """Each folder or file name once: names, e-mail addresses, phone numbers, dates."""
    seen: set[str] = set()
    found = []
    for path in paths:
        parts = [p for p in path.replace("\\", "/").split("/") if p]
        for depth in range(len(parts)):
            where = "/".join(parts[: depth + 1])
            if where in seen:
                continue
            seen.add(where)
            found += _name_findings(where, parts[depth], rules)
    return found


def _name_findings(where: str, name: str, rules: PrivacyRules) -> list[Finding]:
    text = posixpath.splitext(name)[0].replace("_", " ")
    return _value_findings(where, "path", text, rules, any_date=True)


__all__ = [
    "ID_NUMBER",
    "MAX_LISTED",
    "Finding",
    "PrivacyOptions",
    "PrivacyReport",
    "defacing_dict",
    "defacing_line",
    "scan_privacy",
]
