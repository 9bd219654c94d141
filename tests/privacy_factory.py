"""Datasets that carry identifying values in every place the privacy scan looks, from real bytes.

Images are written by nibabel with ``descrip``/``aux_file``/``intent_name``/``db_name`` set and a
code-2 extension holding a real DICOM header written by pydicom (PatientName, PatientID,
PatientBirthDate, InstitutionName, StudyDate); sidecars hold the DICOM-derived fields; the
participants.tsv holds names, birth dates, e-mail addresses and phone numbers. ``SECRETS`` are
the raw values, which no output of the tool may contain.
"""

from __future__ import annotations

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
