"""The privacy scan on real bytes: nibabel-written headers with a pydicom-written DICOM extension,
sidecars with DICOM-derived fields, a participants.tsv with names, birth dates, e-mail addresses
and phone numbers; a clean dataset reports zero. Every finding names the file, the field, the
kind and the severity; no raw value appears in what the scan reports."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import source_options
from privacy_factory import (
    BIRTH_DATE,
    KNOWN,
    PATIENT_NAME,
    clean_bids,
    clean_image,
    identifying_bids,
    identifying_image,
    leaks,
    write_known,
)

from nifti2parquet.common.errors import OptionError
from nifti2parquet.common.nifti import read_header_block
from nifti2parquet.common.storage import Storage
from nifti2parquet.preflight.privacy import PrivacyOptions, PrivacyReport, scan_privacy
from nifti2parquet.preflight.privacy_rules import PrivacyRules, load_rules, mask
from nifti2parquet.preflight.privacy_text import HEADER_TEXT, find_in_text
from nifti2parquet.sources import read_source

T1W = "sub-01/anat/sub-01_T1w.nii.gz"
BOLD = "sub-01/func/sub-01_task-rest_bold.nii"


def scan(source: Path | str, rules: PrivacyRules | None = None, **options: Any) -> PrivacyReport:
    rows = read_source(str(source), source_options(**options))
    return scan_privacy(rows, Storage(), PrivacyOptions(rules=rules or PrivacyRules()))


def keys(report: PrivacyReport) -> set[tuple[str, str, str, str]]:
    return {(f.file, f.field, f.kind, f.severity) for f in report.findings}


@pytest.fixture(scope="module")
def identifying(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrivacyReport, Path]:
    root = tmp_path_factory.mktemp("privacy")
    known = write_known(root / "known.txt")
    source = identifying_bids(root / "bids")
    return scan(source, load_rules(None, str(known))), source


def test_embedded_dicom_patient_tags_are_identifying_in_nii_and_nii_gz(identifying) -> None:
    report, _ = identifying
    for image in (T1W, BOLD):
        dicom = "extension 1 (code 2) DICOM"
        assert (image, f"{dicom} PatientName", "name", "identifying") in keys(report)
        assert (image, f"{dicom} PatientID", "ID-like number", "identifying") in keys(report)
        assert (image, f"{dicom} PatientBirthDate", "date of birth", "identifying") in keys(report)
        assert (image, f"{dicom} StudyDate", "date or time", "review") in keys(report)
        assert (image, f"{dicom} InstitutionName", "institution", "review") in keys(report)


def test_header_text_fields_follow_the_free_text_rules(identifying) -> None:
    """A listed name is identifying in a header as anywhere, and so is a date next to it; an
    ID-like number or a lone date is to review."""
    report, _ = identifying
    found = keys(report)
    for image in (T1W, BOLD):
        assert (image, "descrip", "listed name or ID", "identifying") in found
        assert (image, "descrip", "date or time", "identifying") in found  # a name is near
        assert (image, "descrip", "ID-like number", "review") in found
        assert (image, "aux_file", "date or time", "review") in found
        assert (image, "intent_name", "ID-like number", "review") in found
        assert (image, "db_name", "listed name or ID", "identifying") in found
    # the code-6 comment "acquired by Imaging Core" is ordinary text, not a finding
    assert not [f for f in report.findings if "code 6" in f.field]


def test_sidecar_fields_name_the_sidecar_and_the_image_it_describes(identifying) -> None:
    report, _ = identifying
    sidecar = [f for f in report.findings if f.file == "sub-01/anat/sub-01_T1w.json"]
    by_field = {f.field: (f.kind, f.severity, f.describes) for f in sidecar}
    assert by_field == {
        "PatientName": ("name", "identifying", T1W),
        "PatientID": ("ID-like number", "identifying", T1W),
        "PatientBirthDate": ("date of birth", "identifying", T1W),
        "AcquisitionDateTime": ("date or time", "review", T1W),
        "InstitutionName": ("institution", "review", T1W),
        "DeviceSerialNumber": ("device serial number", "review", T1W),
    }


def test_table_columns_with_names_birth_dates_emails_phones(identifying) -> None:
    report, _ = identifying
    table = {
        (f.field, f.kind, f.severity, f.cells)
        for f in report.findings
        if f.file == "participants.tsv"
    }
    assert table == {
        ("name", "name", "identifying", 1),
        ("birth_date", "date of birth", "identifying", 1),
        ("email", "e-mail address", "identifying", 1),
        ("phone", "phone number", "identifying", 1),
    }


def test_counts_and_no_value_in_the_report(identifying) -> None:
    report, _ = identifying
    # 3 images; 2 sidecars, participants.tsv and dataset_description.json
    assert (report.images, report.metadata_files) == (3, 4)
    # per image: 3 DICOM patient tags, the listed name in descrip and db_name, the date next to
    # it; 3 sidecar fields; 4 participants columns
    assert len(report.identifying) == 2 * 6 + 3 + 4
    text = "\n".join(report.lines()) + json.dumps(report.to_dict()) + repr(report)
    assert leaks({"report": text}) == []
    assert report.to_dict()["known_identifiers_searched"] == len(KNOWN)


def test_a_masked_value_shows_kind_and_length_only() -> None:
    assert mask("date of birth", "1961-04-23") == "<date of birth, 10 chars>"


def test_clean_dataset_reports_zero(tmp_path: Path) -> None:
    report = scan(clean_bids(tmp_path / "clean"))
    assert report.findings == ()
    assert (report.images, report.metadata_files) == (2, 3)
    assert report.summary() == (
        "privacy: 2 images, 3 metadata files scanned; no identifying fields found"
    )
    assert [(d.path, d.status) for d in report.defacing] == [
        ("sub-01/anat/sub-01_T1w.nii.gz", "defaced")
    ]


def test_defacing_cannot_tell_is_said(identifying, tmp_path: Path) -> None:
    report, _ = identifying
    assert {d.status for d in report.defacing} == {"cannot tell"}
    assert "2 cannot tell" in "\n".join(report.lines())
    # a derivative pipeline named after defacing says so
    root = clean_bids(tmp_path / "ds")
    clean_image(root / "derivatives/pydeface/sub-01/anat/sub-01_desc-x_T1w.nii.gz")
    (root / "derivatives/pydeface/dataset_description.json").write_text(
        json.dumps({"Name": "pydeface", "BIDSVersion": "1.9.0", "DatasetType": "derivative"})
    )
    statuses = {d.path: (d.status, d.why) for d in scan(root).defacing}
    status, why = statuses["derivatives/pydeface/sub-01/anat/sub-01_desc-x_T1w.nii.gz"]
    assert status == "defaced"
    assert why.startswith("the dataset says so (derivative pipeline pydeface); the image: ")


def test_table_source_paths_and_columns(tmp_path: Path) -> None:
    """The table source's own table is scanned, and every path (known names, dates)."""
    clean_image(tmp_path / "scans/Quixley_20190314.nii.gz")
    (tmp_path / "table.csv").write_text(
        "image,patient_name,contact,visit\n"
        "scans/Quixley_20190314.nii.gz,Beatrix Quixley,bq@example.org,2019-03-14\n"
    )
    rules = PrivacyRules(known=tuple(k.lower() for k in KNOWN))
    found = keys(scan(tmp_path / "table.csv", rules))
    assert ("scans/Quixley_20190314.nii.gz", "path", "listed name or ID", "identifying") in found
    # the date next to a listed name in the file name is identifying too
    assert ("scans/Quixley_20190314.nii.gz", "path", "date or time", "identifying") in found
    table = "table.csv"  # the name it is published under, not the machine path
    assert (table, "patient_name", "name", "identifying") in found
    assert (table, "contact", "e-mail address", "identifying") in found
    assert (table, "visit", "date or time", "review") in found


def test_rules_file_adds_fields_and_patterns(tmp_path: Path) -> None:
    root = clean_bids(tmp_path / "ds")
    sidecar = root / "sub-01/anat/sub-01_T1w.json"
    sidecar.write_text(json.dumps({"HospitalWard": "B7", "Notes": "case XK-42"}))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "identifying:\n  fields: ['Hospital*']\nreview:\n  patterns: ['XK-\\d+']\n"
    )
    found = keys(scan(root, load_rules(str(rules_file))))
    assert (str(sidecar.relative_to(root)), "HospitalWard", "listed field", "identifying") in found
    assert (str(sidecar.relative_to(root)), "Notes", "listed pattern", "review") in found


def test_a_bad_rules_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("identifying:\n  patterns: ['(']\n")
    with pytest.raises(OptionError, match=r"identifying.patterns entry 1 is not a valid"):
        load_rules(str(bad))
    with pytest.raises(OptionError, match=r"--known-identifiers .*missing.txt: cannot read"):
        load_rules(None, str(tmp_path / "missing.txt"))


def test_a_damaged_dicom_extension_is_reported_not_raised(tmp_path: Path) -> None:
    import nibabel as nib
    import numpy as np

    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(2, b"\x08\x00\x05\x00garbage"))
    nib.save(img, str(tmp_path / "x.nii"))
    (tmp_path / "t.csv").write_text("image\nx.nii\n")
    assert scan(tmp_path / "t.csv").findings == ()  # parsed leniently: no patient tag in it


def test_excluded_fields_and_columns_are_not_scanned_nor_published(tmp_path: Path) -> None:
    source = identifying_bids(tmp_path / "bids")
    fields = ("PatientName", "PatientID", "PatientBirthDate")
    columns = ("name", "birth_date", "email", "phone")
    rows = read_source(str(source), source_options(exclude_fields=fields, exclude_columns=columns))
    options = PrivacyOptions(exclude_fields=fields, exclude_columns=columns)
    report = scan_privacy(rows, Storage(), options)
    assert not [
        f
        for f in report.findings
        if f.file.endswith((".json", ".tsv")) and f.severity == "identifying"
    ]
    published = json.dumps([list(r) for r in rows.rows], default=str)
    assert not any(s in published for s in ("Zebulon", "PID-7730142", "Ottoline", "1972-06-30"))
    assert "Siemens" in published  # the other fields stay


def test_gzip_header_read_stops_at_the_extensions(tmp_path: Path) -> None:
    """For .nii.gz only the header and its extensions are inflated: the voxels are not read."""
    path = identifying_image(tmp_path / "big.nii.gz")
    import nibabel as nib
    import numpy as np

    img = nib.load(path)
    big = nib.Nifti1Image(np.random.default_rng(0).random((64, 64, 64)), img.affine, img.header)
    nib.save(big, path)
    raw = path.read_bytes()

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n: int = -1) -> bytes:
            data = super().read(n)
            Counting.read_bytes += len(data)
            return data

    block = read_header_block(Counting(raw))
    assert block.complete and len(block.data) == block.header.vox_offset
    assert BIRTH_DATE.encode() in block.data
    assert Counting.read_bytes <= 32 * 1024 < len(raw)
    assert len(gzip.decompress(raw)) > 500_000


def test_text_field_offsets_are_nibabels() -> None:
    """The offsets are written out (no nibabel import per build); they are nibabel's layouts."""
    from nibabel import nifti1, nifti2

    from nifti2parquet.common.nifti.header_text import TEXT_FIELDS, text_field_spans

    for version, dtype in ((1, nifti1.header_dtype), (2, nifti2.header_dtype)):
        expected = tuple(
            (name, dtype.fields[name][1], dtype.fields[name][1] + dtype.fields[name][0].itemsize)
            for name in TEXT_FIELDS
            if name in dtype.fields
        )
        assert text_field_spans(version) == expected


def test_table_source_columns_can_be_left_out(tmp_path: Path) -> None:
    clean_image(tmp_path / "a.nii.gz")
    (tmp_path / "t.csv").write_text("image,email,age\na.nii.gz,bq@example.org,40\n")
    rows = read_source(str(tmp_path / "t.csv"), source_options(exclude_columns=("email",)))
    assert [c.name for c in rows.columns] == ["image", "age"]
    options = PrivacyOptions(exclude_columns=("email",))
    assert scan_privacy(rows, Storage(), options).findings == ()


@pytest.mark.parametrize(
    "text", ["FSL5.0", "Imaging Core", "dcm2niix v1.0.20211006", "6.0.5:9e026117", "MB=4"]
)
def test_ordinary_header_text_is_not_a_finding(text: str) -> None:
    assert find_in_text(text, PrivacyRules(), HEADER_TEXT) == []


@pytest.mark.parametrize(
    "text,kind",
    [
        ("TE=30;Time=101522.500;phase=1", "date or time"),
        ("scanned 14.03.2019", "date or time"),
        ("call +44 20 7946 0958", "phone number"),
        ("id 88123456", "ID-like number"),
        ("x@example.org", "e-mail address"),
    ],
)
def test_header_text_that_looks_like_something(text: str, kind: str) -> None:
    assert [m.kind for m in find_in_text(text, PrivacyRules(), HEADER_TEXT)] == [kind]


def test_a_nifti_file_published_in_the_files_config_has_its_header_read(tmp_path: Path) -> None:
    """An image no row holds (under sourcedata/, published with the whole folder) still carries
    a header: its text fields are read as a row image's are."""
    import nibabel as nib

    root = clean_bids(tmp_path / "bids")
    path = clean_image(root / "sourcedata/sub-01/sub-01_T1w_raw.nii.gz", seed=4)
    image = nib.load(path)
    image.header["descrip"] = b"SMITH^JOHN"
    nib.save(image, path)
    rows = read_source(str(root), source_options())
    report = scan_privacy(rows, Storage(), PrivacyOptions())
    rel = "sourcedata/sub-01/sub-01_T1w_raw.nii.gz"
    assert (rel, "descrip", "name", "identifying") in keys(report)
    assert report.scanned.images == rows.image_count() + 1  # the rows' images and this one
    assert "SMITH" not in str(report.to_dict())


CIFTI_XML = """<?xml version="1.0" encoding="UTF-8"?>
<CIFTI Version="2"><Matrix>
  <MetaData><MD><Name>Provenance</Name><Value>made for {value}</Value></MD></MetaData>
  <MatrixIndicesMap AppliesToMatrixDimension="0" IndicesMapToDataType="CIFTI_INDEX_TYPE_LABELS">
    <NamedMap><MapName>parcels</MapName><LabelTable>
      <Label Key="1" Red="1" Green="0" Blue="0" Alpha="1">LH_Vis_1</Label>
    </LabelTable></NamedMap></MatrixIndicesMap>
  <MatrixIndicesMap AppliesToMatrixDimension="1"
    IndicesMapToDataType="CIFTI_INDEX_TYPE_BRAIN_MODELS">
    <BrainModel IndexOffset="0" IndexCount="29696" BrainStructure="CIFTI_STRUCTURE_CORTEX_LEFT"
      ModelType="CIFTI_MODEL_TYPE_SURFACE" SurfaceNumberOfVertices="32492">
      <VertexIndices>979 980 981 982 983 1017 1018 1019 1020 555 1234 5678</VertexIndices>
    </BrainModel></MatrixIndicesMap>
</Matrix></CIFTI>"""


@pytest.mark.parametrize("value", ["the atlas", "SMITH^JOHN"])
def test_a_cifti_extension_is_read_for_its_words_not_its_index_lists(
    tmp_path: Path, value: str
) -> None:
    """A CIFTI-2 file's XML lists vertex indices: runs of numbers that are not phone numbers or
    IDs; its metadata values are text a person wrote, read as header text."""
    import nibabel as nib

    root = clean_bids(tmp_path / "bids")
    path = clean_image(root / "sourcedata/tpl-fsLR_atlas-x_dseg.dlabel.nii", seed=5)
    image = nib.load(path)
    xml = CIFTI_XML.format(value=value).encode()
    image.header.extensions.append(nib.nifti1.Nifti1Extension(32, xml))
    nib.save(image, path)
    report = scan_privacy(read_source(str(root), source_options()), Storage(), PrivacyOptions())
    found = {(f.kind, f.severity) for f in report.findings if "dlabel" in f.file}
    assert found == ({("name", "identifying")} if "^" in value else set())


def test_a_scan_shared_with_a_second_process_finds_the_same(tmp_path: Path) -> None:
    """From the first file on (``helper_from=0``) the headers, faces, sidecars and paths are
    shared with a helper process in chunks: the report is the one process's, in the same
    order, and a folder whose files fall in two chunks of paths is found once."""
    import shutil

    root = identifying_bids(tmp_path / "bids")
    for n in range(3, 303):  # 300 subjects: more than one chunk of each pass
        anat = root / f"sub-{n:03d}/anat"
        anat.mkdir(parents=True)
        source = root / ("sub-01/anat/sub-01_T1w" if n % 50 == 0 else "sub-02/anat/sub-02_T1w")
        shutil.copy(f"{source}.nii.gz", anat / f"sub-{n:03d}_T1w.nii.gz")
        sidecar = {"RepetitionTime": 2.0, **({"PatientName": PATIENT_NAME} if n % 60 == 0 else {})}
        (anat / f"sub-{n:03d}_T1w.json").write_text(json.dumps(sidecar))
    folder = root / "sourcedata/Quixley_Beatrix_1961-04-23"  # found once, in two chunks
    folder.mkdir(parents=True)
    for n in range(300):
        (folder / f"note{n:03d}.txt").write_text("scan notes\n")
    rows = read_source(str(root), source_options())
    alone = scan_privacy(rows, Storage(), PrivacyOptions(helper_from=10**9))
    shared = scan_privacy(rows, Storage(), PrivacyOptions(helper_from=0))
    assert shared.findings == alone.findings
    assert shared.defacing == alone.defacing and len(alone.defacing) == 302
    assert shared.scanned == alone.scanned and alone.scanned.images == 303
    kinds = {f.field.split(" ")[0] for f in alone.findings}
    assert {"descrip", "extension", "PatientName", "path"} <= kinds, kinds
    folder_findings = [
        f for f in alone.findings if f.file == "sourcedata/Quixley_Beatrix_1961-04-23"
    ]
    assert len(folder_findings) == len({(f.kind, f.masked) for f in folder_findings}) >= 1


def test_the_helpers_work_imports_no_pyarrow() -> None:
    """The helper process imports only its passes' modules: without pyarrow it stays ~36 MB
    (a million files plan in under 1 GB), so none of them may bring it in."""
    from nifti2parquet.preflight.privacy import _helper_modules
    from nifti2parquet.sources.bids.headers import HELPER_MODULES

    modules = [*_helper_modules(PrivacyOptions()), *HELPER_MODULES]
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
    code += "print(sorted(m for m in ('pyarrow', 'nifti2parquet.common.rows') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(modules) == 4 and out.stdout.strip() == "[]", (modules, out.stdout)
