"""Datasets that carry identifying values in every place the privacy scan looks, from real bytes.

Images are written by nibabel with ``descrip``/``aux_file``/``intent_name``/``db_name`` set and a
code-2 extension holding a real DICOM header written by pydicom (PatientName, PatientID,
PatientBirthDate, InstitutionName, StudyDate); sidecars hold the DICOM-derived fields; the
participants.tsv holds names, birth dates, e-mail addresses and phone numbers. ``SECRETS`` are
the raw values, which no output of the tool may contain.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset

PATIENT_NAME = "Quixley^Beatrix"
PATIENT_ID = "MRN4471093"
BIRTH_DATE = "19610423"
EMAIL = "beatrix.quixley@example.org"
PHONE = "+44 20 7946 0958"
INSTITUTION = "Saint Elsewhere Imaging"
DESCRIP = "Quixley scan 2019-03-14 ID 88123456"
AUX_FILE = "bq_1961-04-23"
INTENT_NAME = "mrn 44710935"
DB_NAME = "quixley_db_881234"
SIDECAR_NAME = "Zebulon Marchetti"
SIDECAR_ID = "PID-7730142"
SIDECAR_BIRTH = "1958-11-02"
SERIAL = "SN88213"
ACQ_DATETIME = "2019-03-14T09:12:44"
TABLE_NAME = "Ottoline Fairweather"
TABLE_BIRTH = "1972-06-30"
TABLE_EMAIL = "o.fairweather@example.net"
TABLE_PHONE = "+1 415 555 0199"
KNOWN = ("Quixley", "Fairweather")

SECRETS = (
    "Quixley",
    "Beatrix",
    PATIENT_ID,
    BIRTH_DATE,
    EMAIL,
    PHONE,
    INSTITUTION,
    "88123456",
    "1961-04-23",
    "44710935",
    "881234",
    "Zebulon",
    "Marchetti",
    SIDECAR_ID,
    SIDECAR_BIRTH,
    SERIAL,
    ACQ_DATETIME,
    "Ottoline",
    "Fairweather",
    TABLE_BIRTH,
    TABLE_EMAIL,
    TABLE_PHONE,
)

SIDECAR = {
    "RepetitionTime": 2.0,
    "Manufacturer": "Siemens",
    "PatientName": SIDECAR_NAME,
    "PatientID": SIDECAR_ID,
    "PatientBirthDate": SIDECAR_BIRTH,
    "AcquisitionDateTime": ACQ_DATETIME,
    "InstitutionName": INSTITUTION,
    "DeviceSerialNumber": SERIAL,
    "ConversionSoftware": "dcm2niix",
}


def dicom_header() -> bytes:
    """A real DICOM data set (implicit VR little endian, no preamble), as dcm2niix embeds it."""
    ds = Dataset()
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH_DATE
    ds.InstitutionName = INSTITUTION
    ds.StudyDate = "20190314"
    ds.Modality = "MR"
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    return buffer.getvalue()


def identifying_image(path: Path, seed: int = 0) -> Path:
    """A small NIfTI-1 (``.nii`` or ``.nii.gz`` by name) with identifying header text and a
    code-2 (DICOM) extension."""
    data = np.random.default_rng(seed).integers(0, 1000, (6, 7, 5)).astype(np.int16)
    img = nib.Nifti1Image(data, np.eye(4))
    header = img.header
    header["descrip"] = DESCRIP.encode()
    header["aux_file"] = AUX_FILE.encode()
    header["intent_name"] = INTENT_NAME.encode()
    header["db_name"] = DB_NAME.encode()
    header.extensions.append(nib.nifti1.Nifti1Extension(2, dicom_header()))
    header.extensions.append(nib.nifti1.Nifti1Extension(6, b"acquired by Imaging Core"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def clean_image(path: Path, seed: int = 0) -> Path:
    data = np.random.default_rng(seed).integers(0, 1000, (6, 7, 5)).astype(np.int16)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header["descrip"] = b"FSL5.0"
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def _json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def identifying_bids(root: Path) -> Path:
    """A BIDS dataset with identifying values in headers, extensions, sidecars and a table."""
    _json(root / "dataset_description.json", {"Name": "Privacy test", "BIDSVersion": "1.9.0"})
    identifying_image(root / "sub-01/anat/sub-01_T1w.nii.gz", seed=1)
    _json(root / "sub-01/anat/sub-01_T1w.json", SIDECAR)
    identifying_image(root / "sub-01/func/sub-01_task-rest_bold.nii", seed=2)
    _json(root / "sub-01/func/sub-01_task-rest_bold.json", {"RepetitionTime": 2.0})
    clean_image(root / "sub-02/anat/sub-02_T1w.nii.gz", seed=3)
    (root / "participants.tsv").write_text(
        "participant_id\tname\tbirth_date\temail\tphone\tage\n"
        f"sub-01\t{TABLE_NAME}\t{TABLE_BIRTH}\t{TABLE_EMAIL}\t{TABLE_PHONE}\t51\n"
        "sub-02\tn/a\tn/a\tn/a\tn/a\t40\n"
    )
    return root


def clean_bids(root: Path) -> Path:
    """The same layout with nothing identifying: header text 'FSL5.0', plain sidecars."""
    _json(root / "dataset_description.json", {"Name": "Clean test", "BIDSVersion": "1.9.0"})
    clean_image(root / "sub-01/anat/sub-01_T1w.nii.gz", seed=1)
    _json(
        root / "sub-01/anat/sub-01_T1w.json",
        {"RepetitionTime": 2.0, "Manufacturer": "Siemens", "Defaced": True},
    )
    clean_image(root / "sub-01/func/sub-01_task-rest_bold.nii", seed=2)
    (root / "participants.tsv").write_text("participant_id\tage\tsex\nsub-01\t51\tF\n")
    return root


def write_known(path: Path) -> Path:
    path.write_text("# participants to look for\n" + "\n".join(KNOWN) + "\n")
    return path


def files_under(root: Path) -> dict[str, bytes]:
    """Every file the tool wrote (hidden state included), for searching raw values."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leaks(texts: dict[str, bytes | str]) -> list[tuple[str, str]]:
    """(where, value) for every raw value found in any of the texts (not in Parquet shards,
    whose image bytes the user chose to publish)."""
    found = []
    for where, data in texts.items():
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        found += [(where, s) for s in SECRETS if s.lower() in text.lower()]
    return found


# Identifiers planted where labs leave them ------------------------------------------------------
# Each is a raw value no output may show (masked everywhere), and none of which a build with every
# remedy may store (searched in the shards' bytes, images and DICOM files inflated).
PLANTED = {
    "sidecar_notes": "subject Hildegard Quenby, born 1980-05-17, moved a lot",
    "sidecar_comment": "DOB 17.05.1980",
    "table_note": "call back Ernst Vollrath on 05/17/1980",
    "readme": "Participant Walburga Quenby (walburga.quenby@example.org) was born 12 March 1975.",
    "code": "# exported for PRZYBYLSKI^HELENA on 19750312",
    "descrip": "SMITH^JOHN",
    "aux_file": "Smith^John",
    "intent_name": "DOE^JANE",
    "db_name": "ROE^RICHARD",
    "listed_descrip": "scan of Xanthippe",
}
LISTED_NAME = "Xanthippe"
DICOM_PHI = {
    "PatientName": "Quenby^Walburga",
    "PatientID": "MRN5550123",
    "PatientBirthDate": "19750312",
    "OtherPatientIDs": "HOSP-992211",
    "InstitutionName": "Saint Elsewhere Imaging",
    "InstitutionAddress": "1 Hospital Road, Springfield",
    "ReferringPhysicianName": "House^Gregory",
    "StudyDate": "20190314",
}
WITHDRAWN = {"name": "Zenobia Farquhar", "age": "77", "note": "withdrew consent 2020-02-02"}
PLANTED_SECRETS = (
    "Hildegard",
    "Quenby",
    "1980-05-17",
    "17.05.1980",
    "Vollrath",
    "05/17/1980",
    "Walburga",
    "walburga.quenby@example.org",
    "12 March 1975",
    "PRZYBYLSKI",
    "SMITH^JOHN",
    "Smith^John",
    "DOE^JANE",
    "ROE^RICHARD",
    LISTED_NAME,
    "MRN5550123",
    "19750312",
    "HOSP-992211",
    "Saint Elsewhere",
    "Hospital Road",
    "House^Gregory",
    "Zenobia",
    "Farquhar",
    "withdrew consent",
)


def dicom_file(path: Path, gzipped: bool = False) -> Path:
    """A DICOM Part-10 MR image (preamble, file meta, 8x8 pixels) with PHI, written by pydicom."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series"])
    ds.Modality = "MR"
    for keyword, value in DICOM_PHI.items():
        setattr(ds, keyword, value)
    ds.add_new(0x00291010, "OB", b"private vendor bytes")  # a private attribute
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.arange(64, dtype=np.uint16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return path


def planted_bids(root: Path) -> Path:
    """A BIDS dataset with identifiers in every place a lab leaves them: free text in a sidecar,
    a table, the README and a script; the DICOM person-name form in each header text field; a
    listed name in a header; DICOM files under sourcedata/; a second participant (sub-02) whose
    data a --subject 01 build must not publish."""
    _json(
        root / "dataset_description.json",
        {"Name": "Planted", "BIDSVersion": "1.9.0", "Authors": ["Ada Lovelace", "Alan Turing"]},
    )
    image = root / "sub-01/anat/sub-01_T1w.nii.gz"
    clean_image(image, seed=1)
    img = nib.load(image)
    for field in ("descrip", "aux_file", "intent_name", "db_name"):
        img.header[field] = PLANTED[field].encode()
    nib.save(img, image)
    bold = root / "sub-01/func/sub-01_task-rest_bold.nii"
    clean_image(bold, seed=2)
    img = nib.load(bold)
    img.header["descrip"] = PLANTED["listed_descrip"].encode()
    nib.save(img, bold)
    _json(
        root / "sub-01/anat/sub-01_T1w.json",
        {
            "RepetitionTime": 2.0,
            "AcquisitionNotes": PLANTED["sidecar_notes"],
            "Comment": PLANTED["sidecar_comment"],
        },
    )
    clean_image(root / "sub-02/anat/sub-02_T1w.nii.gz", seed=3)
    (root / "participants.tsv").write_text(
        "participant_id\tage\tnotes\tname\n"
        f"sub-01\t44\t{PLANTED['table_note']}\tn/a\n"
        f"sub-02\t{WITHDRAWN['age']}\t{WITHDRAWN['note']}\t{WITHDRAWN['name']}\n"
    )
    (root / "phenotype").mkdir()
    (root / "phenotype/history.tsv").write_text(
        f"participant_id\tremark\nsub-01\tnone\nsub-02\t{WITHDRAWN['name']} moved away\n"
    )
    (root / "README").write_text(f"A planted dataset.\n\n{PLANTED['readme']}\n")
    (root / "CHANGES").write_text("1.0.0 2020-01-01\n  - first release\n")
    # a scanner's export in a folder the build publishes (sourcedata/ and code/ join them when
    # the whole folder is published: see with_unpublished_files)
    dicom_file(root / "dicom/sub-01/IM0001")
    dicom_file(root / "dicom/sub-01/IM0002.dcm.gz", gzipped=True)
    return root


def with_sourcedata(root: Path) -> list[str]:
    """DICOM files under sourcedata/ and a script under code/ (folders BIDS leaves unindexed),
    as the files a whole-folder build publishes; their paths relative to ``root``."""
    dicom_file(root / "sourcedata/sub-01/dicom/1.3.12.2.1107.5.2.32")
    dicom_file(root / "sourcedata/sub-01/dicom/IM0003.dcm")
    (root / "code").mkdir(exist_ok=True)
    (root / "code/convert.py").write_text(f"{PLANTED['code']}\nprint('converted')\n")
    return [
        "sourcedata/sub-01/dicom/1.3.12.2.1107.5.2.32",
        "sourcedata/sub-01/dicom/IM0003.dcm",
        "code/convert.py",
    ]


def fixed_readme(root: Path) -> None:
    """The remedy for free text in a README: the lab edits the file."""
    (root / "README").write_text("A planted dataset.\n")


def shard_texts(out: Path) -> dict[str, str]:
    """Everything the shards hold, as text: every cell of every Parquet file (images and other
    files inflated when gzip'ed), for searching raw values in what a build would publish."""
    import pyarrow.parquet as pq

    texts = {}
    for shard in sorted(out.glob("*/*.parquet")):
        parts = []
        for row in pq.read_table(shard).to_pylist():
            for value in row.values():
                parts += _as_texts(value)
        texts[str(shard.relative_to(out))] = "\n".join(parts)
    return texts


def _as_texts(value: object) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _as_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _as_texts(v)]
    if isinstance(value, bytes):
        data = gzip.decompress(value) if value[:2] == b"\x1f\x8b" else value
        return [data.decode("latin-1")]
    return [str(value)] if value is not None else []


def planted_leaks(texts: dict[str, str | bytes]) -> list[tuple[str, str]]:
    found = []
    for where, data in texts.items():
        text = data.decode("latin-1") if isinstance(data, bytes) else data
        found += [(where, s) for s in PLANTED_SECRETS if s.lower() in text.lower()]
    return found
