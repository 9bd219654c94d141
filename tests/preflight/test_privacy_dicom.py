"""DICOM files among the published files: read header-only with pydicom, every attribute of DICOM
PS3.15's Basic Profile that holds a value is a finding (identifying for the patient's identity),
grouped per folder; ``--exclude-dicom-tags`` rewrites the published copies without them."""

from __future__ import annotations

import dataclasses
import gzip
import io
from pathlib import Path

import pydicom
import pytest
from privacy_factory import DICOM_PHI, dicom_file, planted_bids, with_sourcedata

from nifti2parquet.common.dicom_profile import may_be_dicom, profile
from nifti2parquet.common.rows import FileRef, SourceRows
from nifti2parquet.common.storage import Storage
from nifti2parquet.preflight.privacy import PrivacyOptions, PrivacyReport, scan_privacy
from nifti2parquet.shards.dicom_copies import without_dicom_tags
from nifti2parquet.sources import read_source
from nifti2parquet.sources.options import SourceOptions

IDENTIFYING = {"PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs"}
REVIEW = {
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "StudyDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "MediaStorageSOPInstanceUID",
    "(0029,1010)",
}


def published_too(rows: SourceRows, root: Path, rels: list[str]) -> SourceRows:
    """The rows as a build that publishes the whole folder has them (sourcedata/, code/)."""
    refs = tuple(FileRef(str(root / r), (root / r).stat().st_size, r, r) for r in rels)
    return dataclasses.replace(rows, other_files=rows.other_files + refs)


def alone(path: Path, display: str) -> SourceRows:
    """A source whose only published file is ``path``."""
    ref = FileRef(str(path), path.stat().st_size, display, display)
    return SourceRows("x", "bids", (), (), other_files=(ref,))


def scan(rows: SourceRows, **options) -> PrivacyReport:
    return scan_privacy(rows, Storage(), PrivacyOptions(**options))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SourceRows]:
    root = planted_bids(tmp_path_factory.mktemp("dicom") / "bids")
    rows = read_source(str(root), SourceOptions())
    return root, published_too(rows, root, with_sourcedata(root))


def test_the_profile_is_the_standards_table() -> None:
    table = profile()
    assert table.edition >= "2023"
    actions = {
        "PatientName": "Z",
        "PatientID": "Z/D",
        "PatientBirthDate": "Z",
        "StudyInstanceUID": "U",
        "InstitutionName": "X/Z/D",
        "OtherPatientIDs": "X",
    }
    for keyword, action in actions.items():
        assert table.action(int(pydicom.datadict.tag_for_keyword(keyword))) == action, keyword
    assert table.action(0x60003000) == "X"  # overlay data, a masked entry (60xx,3000)
    assert table.action(int(pydicom.datadict.tag_for_keyword("Modality"))) is None


def test_dicom_files_are_found_by_name_and_by_preamble(tree) -> None:
    assert may_be_dicom("IM0001") and may_be_dicom("1.3.12.2.1107.5.2.32")
    assert may_be_dicom("x.dcm.gz") and not may_be_dicom("notes.txt")
    report = scan(tree[1])
    assert report.scanned.dicom_files == 4  # dicom/ (2) and sourcedata/ (2)


def test_each_attribute_is_a_finding_grouped_by_folder(tree) -> None:
    report = scan(tree[1])
    dicom = [f for f in report.findings if f.file.startswith(("dicom/", "sourcedata/"))]
    by_field = {(f.file, f.field): f for f in dicom}
    for folder in ("dicom/sub-01/", "sourcedata/sub-01/dicom/"):
        for keyword in IDENTIFYING:
            finding = by_field[(folder, keyword)]
            assert (finding.severity, finding.files) == ("identifying", 2), keyword
        for keyword in REVIEW:
            assert by_field[(folder, keyword)].severity == "review", keyword
    assert by_field[("dicom/sub-01/", "PatientBirthDate")].kind == "date of birth"
    assert by_field[("dicom/sub-01/", "ReferringPhysicianName")].kind == "staff name"
    assert by_field[("dicom/sub-01/", "(0029,1010)")].kind == "DICOM private attribute"
    line = by_field[("dicom/sub-01/", "PatientName")].line()
    assert line == "[identifying] dicom/sub-01/ (2 DICOM files): PatientName: name <name, 15 chars>"
    text = "\n".join(report.lines()) + str(report.to_dict())
    assert not [v for v in DICOM_PHI.values() if v in text]


def test_a_listed_name_in_any_attribute_is_identifying(tmp_path: Path) -> None:
    from nifti2parquet.preflight.privacy_rules import PrivacyRules

    path = dicom_file(tmp_path / "d/IM0001")
    ds = pydicom.dcmread(path)
    ds.SeriesDescription = "T1 for Xanthippe"
    ds.save_as(path)
    rows = alone(path, "d/IM0001")
    found = scan(rows, rules=PrivacyRules(known=("xanthippe",))).findings
    assert ("SeriesDescription", "listed name or ID", "identifying") in {
        (f.field, f.kind, f.severity) for f in found
    }


@pytest.mark.parametrize("gzipped", [False, True])
def test_exclude_dicom_tags_rewrites_without_the_profiles_attributes(
    tmp_path: Path, gzipped: bool
) -> None:
    source = dicom_file(tmp_path / ("IM.dcm.gz" if gzipped else "IM0001"), gzipped=gzipped)
    data = source.read_bytes()
    stored, changed = without_dicom_tags(data)  # type: ignore[misc]
    assert stored[:2] == (b"\x1f\x8b" if gzipped else data[:2])
    assert without_dicom_tags(data) == (stored, changed)  # deterministic
    raw = gzip.decompress(stored) if gzipped else stored
    assert raw[128:132] == b"DICM"
    before = pydicom.dcmread(io.BytesIO(gzip.decompress(data) if gzipped else data))
    after = pydicom.dcmread(io.BytesIO(raw))
    for keyword in DICOM_PHI:
        assert not after.get(keyword), keyword  # removed, or kept empty (Z)
        assert DICOM_PHI[keyword].encode() not in raw
    assert after.PixelData == before.PixelData and after.Rows == 8
    assert after.StudyInstanceUID != before.StudyInstanceUID
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert after.PatientIdentityRemoved == "YES"
    assert not any(element.tag.is_private for element in after)
    assert changed >= len(DICOM_PHI) + 4  # + UIDs and the private attribute
    path = tmp_path / "copy" / source.name
    path.parent.mkdir()
    path.write_bytes(stored)
    report = scan(alone(path, path.name))
    assert (
        report.scanned.dicom_files == 1 and report.findings == ()
    )  # what the remedy publishes holds nothing to report


def test_excluded_dicom_tags_are_not_findings(tree) -> None:
    report = scan(tree[1], exclude_dicom_tags=True)
    assert not [f for f in report.findings if f.file.startswith(("dicom/", "sourcedata/"))]
