"""The privacy preflight: what in the files could identify a participant, found before publishing.

Every build and ``inspect`` runs it over what the build publishes: the header text fields and
extensions of each image, the rows' and every NIfTI file of the ``files`` config (an embedded
DICOM header parsed with pydicom), every other file of the
``files`` config by its kind (JSON, tables, text, DICOM: :mod:`.privacy_files`), every path, and
for a BIDS source the defacing of each anatomical image (:mod:`.privacy_defacing`, which reads a
few voxels of each). The rules: :mod:`.privacy_text` (free text), :mod:`.privacy_names` (person
names), :mod:`.privacy_rules` (field and column names, the user's lists), :mod:`.privacy_dicom`
(DICOM PS3.15), :mod:`.privacy_tables` (what the BIDS schema says a column means).

From 2,000 files on, the passes are shared with a helper process on a second core
(:mod:`..common.helper_process`); the report is the same, in the same order.

Each :class:`~.privacy_record.Finding` is masked (kind and length, never a part of the value) and
is ``identifying`` or ``review``; ``push`` refuses a public repo while identifying findings exist.
It is a preflight, not a guarantee of de-identification (docs/explanation/privacy.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from ..common.batched import map_batched
from ..common.dicom_profile import may_be_dicom
from ..common.exclusions import LeftOut
from ..common.helper_process import HELPER_FROM, Helper, SplitPass, helper_process
from ..common.nifti import is_nifti_name
from ..common.rows import FileRef, SourceRows
from ..common.selection import Selection
from ..common.storage import CHECK_BLOCK, Storage
from .defacing import FACE_MODULE, defacing_report
from .privacy_files import FileScan, Published, grouped_by_folder, kind_of, scan_file
from .privacy_headers import header_findings
from .privacy_paths import PATH_CHUNK, path_chunk
from .privacy_record import MAX_LISTED, Finding
from .privacy_report import PrivacyReport, Scanned, defacing_record
from .privacy_rules import ID_NUMBER, NOT_SCANNED, PrivacyRules
from .privacy_tables import TableScan


@dataclass(frozen=True)
class PrivacyOptions:
    """What the scan looks for besides its built-in rules, and what the build leaves out."""

    rules: PrivacyRules = field(default_factory=PrivacyRules)
    exclude_fields: tuple[str, ...] = ()
    exclude_columns: tuple[str, ...] = ()  # NAME or GLOB:NAME
    exclude_dicom_tags: bool = False
    selection: Selection = field(default_factory=Selection)  # other participants' rows: left out
    threads: int = 16
    defacing_voxels: bool = True  # read a few voxels of each anatomical image
    helper_from: int = HELPER_FROM  # files read (headers + paths) from which a helper shares it


def scan_privacy(
    rows: SourceRows, storage: Storage, options: PrivacyOptions | None = None
) -> PrivacyReport:
    """Scan what ``rows`` would publish: headers, every other file, paths, defacing."""
    options = options or PrivacyOptions()
    started = time.monotonic()
    published = _published(rows)
    images = _unique_images(rows)
    # a NIfTI file published in the files config (under sourcedata/, an image no row holds)
    # carries a header as much as a row's image does
    headers = [*images, *(f for f in published if is_nifti_name(f.display))]
    left = LeftOut()
    # The headers, the faces and the paths begin on a second process (a second core), in
    # chunks, front first, while this one reads the published files; then it takes back from
    # the paths' end what the helper has not begun, so the two meet wherever the work divides.
    # One thread pool for every pass here: starting threads costs more than reading a cached
    # small file.
    # The helper is worth starting by the files its passes read: the headers and the paths.
    with (
        helper_process(
            len(headers) + len(images) + len(published),
            options.helper_from,
            preload=_helper_modules(options),
        ) as helper,
        ThreadPoolExecutor(max(1, options.threads), thread_name_prefix="n2p-privacy") as pool,
    ):
        header_pass = _header_findings(headers, storage, options, helper, pool)
        defacing = defacing_report(
            rows, storage, voxels=options.defacing_voxels, pool=pool, helper=helper
        )
        path_pass = _path_findings(
            _paths(images, published), options.rules, rows.each_file_once, helper
        )
        counts, file_findings = _file_findings(published, storage, options, left, pool)
        paths, path_findings = _joined_paths(path_pass)  # the helper's last pass: joined first
        defaced = defacing()
        findings = header_pass.results()
        findings += file_findings + path_findings
    return PrivacyReport(
        scanned=Scanned(
            len(headers),
            counts["json"] + counts["tabular"],
            counts["text"],
            counts["dicom"],
            paths,
        ),
        findings=tuple(findings),
        defacing=defaced,
        excluded_fields=options.exclude_fields,
        excluded_columns=options.exclude_columns,
        dicom_tags_excluded=options.exclude_dicom_tags,
        known_identifiers=len(options.rules.known),
        left_out=left.record(),
        seconds=time.monotonic() - started,
    )


def _helper_modules(options: PrivacyOptions) -> tuple[str, ...]:
    """The modules of the passes the helper shares (the faces' brings numpy: only if voxels
    are read)."""
    passes = (header_findings.__module__, path_chunk.__module__)
    return (*passes, FACE_MODULE) if options.defacing_voxels else passes


def _unique_images(rows: SourceRows) -> list[FileRef]:
    seen: dict[str, FileRef] = {}
    for _, _, img in rows.images():
        seen.setdefault(img.display, img)
    return list(seen.values())


def _published(rows: SourceRows) -> list[Published]:
    """Every file published besides the images: the metadata a row was read from (a sidecar
    knows the images it describes) and every other file of the ``files`` config."""
    source = [m for m in rows.metadata_files if m.role == "source"]
    if source and len(rows.other_files) == 1:  # rows read from one table, which is published
        table = rows.other_files[0]
        return [Published(table.name, table, table.size, "", True)]  # as published
    files: dict[str, Published] = {}
    for meta in rows.metadata_files:
        files[meta.display] = Published(meta.display, meta, 0, _describes(meta.describes))
    for other in rows.other_files:
        known = files.get(other.display)
        describes = known.describes if known else ""
        # the other file is what is stored: a copy a remedy rewrote, or the source file
        files[other.display] = Published(other.display, other, other.size, describes)
    return list(files.values())


def _describes(images: Sequence[str]) -> str:
    if not images:
        return ""
    more = len(images) - 1
    return images[0] + (f" and {more:,} more" if more else "")


def _paths(images: Sequence[FileRef], published: Sequence[Published]) -> Iterator[str]:
    """The paths as published (stored), images first; a path named twice comes twice."""
    yield from (img.name for img in images)
    yield from (f.display for f in published)


# headers ----------------------------------------------------------------------------------------
def _header_findings(
    images: Sequence[FileRef | Published],
    storage: Storage,
    options: PrivacyOptions,
    helper: Helper | None,
    pool: Executor,
) -> SplitPass[FileRef | Published, Finding]:
    """The findings of the images' headers, begun on ``helper`` when there is one."""
    work = partial(header_findings, storage=storage, rules=options.rules, threads=options.threads)
    return SplitPass(helper, work, images, plain=_display_and_url, pool=pool)


def _display_and_url(image: FileRef | Published) -> tuple[str, str]:
    """What the header pass is given: plain data, so the helper imports less."""
    return image.display, image.url


# the other published files ----------------------------------------------------------------------
def _file_findings(
    published: Sequence[Published],
    storage: Storage,
    options: PrivacyOptions,
    left: LeftOut,
    pool: Executor,
) -> tuple[dict[str, int], list[Finding]]:
    """Findings of every published file, read several at a time; counts of each kind read.

    Read here, not on the helper: parsing tables needs pyarrow, which the helper never loads."""
    scan = FileScan(
        TableScan(
            options.rules,
            options.exclude_columns,
            options.selection,
        ),
        options.exclude_fields,
        options.exclude_dicom_tags,
    )

    def one(file: Published) -> tuple[str, list[Finding]]:
        what = _kind(file, storage)
        return what, _scanned(file, what, storage, scan, left) if what else []

    counts = dict.fromkeys(("json", "tabular", "text", "dicom"), 0)
    found: list[Finding] = []
    dicom: list[Finding] = []
    for what, file_found in map_batched(one, published, options.threads, "n2p-privacy", pool):
        if what:
            counts[what] += 1
        (dicom if what == "dicom" else found).extend(file_found)
    return counts, found + grouped_by_folder(dicom)


def _kind(file: Published, storage: Storage) -> str:
    what = kind_of(file.display)
    if what or file.size < 132 or not may_be_dicom(file.display):
        return what  # the name decides; a DICOM file named by a UID needs its first bytes
    try:
        with storage.open(file.url, CHECK_BLOCK) as f:
            return kind_of(file.display, f.read(132))
    except OSError:
        return ""


def _scanned(
    file: Published, what: str, storage: Storage, scan: FileScan, left: LeftOut
) -> list[Finding]:
    try:
        return scan_file(file, what, storage, scan, left)
    except Exception as exc:  # any failure of a parser fed untrusted bytes: report it
        return _unreadable(file, what, storage, scan, left, exc)


def _unreadable(
    file: Published, what: str, storage: Storage, scan: FileScan, left: LeftOut, exc: Exception
) -> list[Finding]:
    """A file that cannot be parsed as what its name says is read as text (a malformed JSON
    still holds its words); a DICOM file that cannot be parsed is said not scanned."""
    if what != "dicom":
        try:
            return scan_file(file, "text", storage, scan, left)
        except Exception:
            pass
    reason = type(exc).__name__
    return [Finding(file.display, "content", NOT_SCANNED, f"<unreadable: {reason}>", "review")]


# paths ------------------------------------------------------------------------------------------
def _path_findings(
    paths: Iterable[str], rules: PrivacyRules, each_once: bool, helper: Helper | None
) -> SplitPass[str, tuple[int, list[Finding]]]:
    """The paths' findings, begun on ``helper`` in chunks when no path comes twice (a crawl's
    files): only then is a chunk's count of distinct paths its own."""
    work = partial(path_chunk, rules=rules, each_once=each_once)
    return SplitPass(helper if each_once else None, work, list(paths), PATH_CHUNK)


def _joined_paths(scanned: SplitPass[str, tuple[int, list[Finding]]]) -> tuple[int, list[Finding]]:
    """The chunks' counts added, and each finding once: a folder whose files fall in two
    chunks is found in both."""
    chunks = scanned.results()
    if len(chunks) == 1:
        return chunks[0]
    found = dict.fromkeys(f for _, part in chunks for f in part)
    return sum(n for n, _ in chunks), list(found)


__all__ = [
    "ID_NUMBER",
    "MAX_LISTED",
    "Finding",
    "PrivacyOptions",
    "PrivacyReport",
    "defacing_record",
    "scan_privacy",
]
