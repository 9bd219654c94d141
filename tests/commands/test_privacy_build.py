"""The privacy preflight through the commands a user runs: build, inspect, verify, load_dataset.

What a user checks: the findings are in the summary, ``--json``, the manifest and the card, with
no raw value anywhere the tool wrote (stdout, stderr, JSON, manifest, card, hidden state); with
the remedies, the left-out fields and blanked headers are absent from the stored bytes, every
other byte equals the source, ``verify --source`` passes naming what was changed on purpose, and
``load_dataset`` still decodes every image.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from factories import build_options
from privacy_factory import SIDECAR, files_under, identifying_bids, leaks, write_known

from nifti2parquet.common.nifti import parse_header
from nifti2parquet.common.nifti.header_text import TEXT_FIELDS, text_field_spans

EXCLUDED_FIELDS = [k for k in SIDECAR if k not in ("RepetitionTime", "Manufacturer")]
EXCLUDED_COLUMNS = ["name", "birth_date", "email", "phone"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nifti2parquet", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("privacy-build")
    return identifying_bids(root / "bids"), write_known(root / "known.txt")


def _not_shards(out: Path) -> dict[str, bytes]:
    """Every file the build wrote but the shards (which hold the data the user publishes)."""
    return {k: v for k, v in files_under(out).items() if not k.endswith(".parquet")}


def test_build_reports_findings_everywhere_and_leaks_no_value(source, tmp_path: Path) -> None:
    bids, known = source
    out = tmp_path / "out"
    result = cli("build", str(bids), str(out), "-q", "--json", "--known-identifiers", str(known))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    privacy = summary["privacy"]
    assert (privacy["images_scanned"], privacy["metadata_files_scanned"]) == (3, 4)
    # 13 without the list; with it, the listed name in descrip and db_name of both images, and
    # the date next to it in descrip
    assert privacy["identifying"] == 13 + 6
    assert "19 identifying" in summary["summary"]
    assert "[identifying] participants.tsv: email: e-mail address <e-mail address, 25 chars>" in (
        result.stderr
    )
    manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
    assert manifest["privacy"]["findings"] == privacy["findings"]
    card = (out / "README.md").read_text()
    assert "## Privacy checks" in card and "| date of birth | 4 | 0 |" in card
    assert "what the images show: 0 defaced, 0 not defaced, 2 cannot tell." in card
    written = {"stdout": result.stdout, "stderr": result.stderr, **_not_shards(out)}
    assert leaks(written) == []
    # without a remedy, every image is stored exactly as on disk
    for line in (out / ".nifti2parquet/train/images.jsonl").read_text().splitlines():
        record = json.loads(line)
        source_file = bids / record["path"]
        assert record["sha256"] == hashlib.sha256(source_file.read_bytes()).hexdigest()
        assert "source_sha256" not in record


def test_inspect_shows_findings_without_values(source) -> None:
    bids, known = source
    human = cli("inspect", str(bids), "-q", "--known-identifiers", str(known))
    as_json = cli("inspect", str(bids), "-q", "--json")
    assert human.returncode == 0 and as_json.returncode == 0, human.stderr + as_json.stderr
    assert "19 identifying" in human.stdout
    assert json.loads(as_json.stdout)["privacy"]["identifying"] == 13
    assert leaks({"human": human.stdout + human.stderr, "json": as_json.stdout}) == []


def test_remedies_blank_and_leave_out_and_keep_everything_else(source, tmp_path: Path) -> None:
    bids, known = source
    out = tmp_path / "clean"
    args = ["build", str(bids), str(out), "-q", "--known-identifiers", str(known)]
    args += ["--blank-nifti-headers"]
    args += [a for f in EXCLUDED_FIELDS for a in ("--exclude-field", f)]
    args += [a for c in EXCLUDED_COLUMNS for a in ("--exclude-column", c)]
    built = cli(*args)
    assert built.returncode == 0, built.stderr
    assert "no identifying fields found" in built.stdout
    card = (out / "README.md").read_text()
    assert "3 images are stored with their NIfTI header text blanked" in card
    assert "exact bytes (`.nii` or `.nii.gz`) (but the header text blanked on purpose" in card
    assert "`PatientName`" in card and "`birth_date`" in card

    # nothing identifying anywhere: outputs, hidden state, and the shards' own values
    shards = sorted((out / "data").glob("*.parquet"))
    stored = _stored_images(shards)
    values = {
        str(s): json.dumps(
            pq.read_table(s).drop_columns(["t1w", "bold_rest"]).to_pylist(), default=str
        )
        for s in shards
    }
    # the files config stores the dataset's own files: the rewritten sidecars and tables too
    for s in sorted((out / "files").glob("*.parquet")):
        rows = pq.read_table(s).to_pylist()
        values[str(s)] = json.dumps(rows, default=lambda b: b.decode("utf-8", "replace"))
    images = {name: _content(data) for name, data in stored.items()}
    written = {"stdout": built.stdout, "stderr": built.stderr, **_not_shards(out), **values}
    assert leaks({**written, **images}) == []

    # stored bytes differ from the source exactly in the header text and the extensions
    records = [
        json.loads(line)
        for line in (out / ".nifti2parquet/train/images.jsonl").read_text().splitlines()
    ]
    assert len(records) == 3
    for record in records:
        original = (bids / record["path"]).read_bytes()
        assert record["source_sha256"] == hashlib.sha256(original).hexdigest()
        assert record["sha256"] == hashlib.sha256(stored[record["path"]]).hexdigest()
        _differ_only_in_header_text(_content(original), _content(stored[record["path"]]))

    verified = cli("verify", str(out), "--source")
    assert verified.returncode == 0, verified.stderr
    # 3 images blanked, and the 2 files that held an excluded field or column rewritten
    assert "5 changed on purpose: OK" in verified.stdout
    on_purpose = [line for line in verified.stderr.splitlines() if "changed on purpose" in line]
    assert sum("blanked by --blank-nifti-headers" in line for line in on_purpose) == 3
    assert sum("(--exclude-" in line for line in on_purpose) == 2, on_purpose

    import datasets

    ds = datasets.load_dataset(str(out), split="train")
    decoded = [row[c] for row in ds for c in ("t1w", "bold_rest") if row[c] is not None]
    assert len(decoded) == 3
    assert all(img.get_fdata().shape == (6, 7, 5) for img in decoded)
    assert all(not img.header.extensions and img.header["descrip"] == b"" for img in decoded)


def _stored_images(shards: list[Path]) -> dict[str, bytes]:
    """Image bytes by source path, read back from the shards with pyarrow."""
    stored = {}
    for shard in shards:
        table = pq.read_table(shard)
        for column in ("t1w", "bold_rest"):
            info = table.column(f"{column}_info").to_pylist()
            for cell, meta in zip(table.column(column).to_pylist(), info):
                if cell is not None:
                    stored[meta["path"]] = cell["bytes"]
    return stored


def _content(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _differ_only_in_header_text(original: bytes, stored: bytes) -> None:
    header = parse_header(original[:1024])
    assert len(original) == len(stored)
    assert original[header.vox_offset :] == stored[header.vox_offset :]  # the voxels
    allowed = {i for _, start, end in text_field_spans(1) for i in range(start, end)}
    allowed |= set(range(348, header.vox_offset))  # the extension flag and the extensions
    changed = {i for i in range(header.vox_offset) if original[i] != stored[i]}
    assert changed and changed <= allowed
    assert not any(stored[348 : header.vox_offset])


def test_clean_dataset_reports_zero_in_summary_and_card(tmp_path: Path) -> None:
    from privacy_factory import clean_bids

    from nifti2parquet.commands.build import build

    result = build(str(clean_bids(tmp_path / "clean")), str(tmp_path / "out"), build_options())
    assert result.privacy is not None and result.privacy.findings == ()
    assert "privacy: 2 images, 3 metadata files scanned; no identifying fields found" in (
        result.summary()
    )
    card = (tmp_path / "out/README.md").read_text()
    assert (
        "3 metadata files scanned (NIfTI header text and extensions, sidecar JSON, tables, " in card
    )
    assert "no identifying fields found" in card
    assert "Defacing of 1 anatomical image, from what the dataset says and what the images " in card
    assert "show: 1 defaced, 0 not defaced." in card


# identifiers planted where labs leave them -------------------------------------------------------
REMEDIES = [
    "--blank-nifti-headers",
    "--exclude-field",
    "AcquisitionNotes",
    "--exclude-field",
    "Comment",
    "--exclude-column",
    "notes",
    "--exclude-dicom-tags",
    "--subject",
    "01",
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from privacy_factory import LISTED_NAME, planted_bids

    root = tmp_path_factory.mktemp("planted")
    (root / "known.txt").write_text(f"{LISTED_NAME}\n")
    return planted_bids(root / "bids"), root / "known.txt"


def test_planted_identifiers_are_found_with_their_severity_and_masked(planted, tmp_path) -> None:
    from privacy_factory import planted_leaks

    bids, known = planted
    out = tmp_path / "out"
    result = cli("build", str(bids), str(out), "-q", "--json", "--known-identifiers", str(known))
    assert result.returncode == 0, result.stderr
    privacy = json.loads(result.stdout)["privacy"]
    found = {(f["file"], f["field"], f["kind"], f["severity"]) for f in privacy["findings"]}
    t1w, bold, sidecar = (
        "sub-01/anat/sub-01_T1w.nii.gz",
        "sub-01/func/sub-01_task-rest_bold.nii",
        "sub-01/anat/sub-01_T1w.json",
    )
    expected = {
        *((t1w, field, "name", "identifying") for field in TEXT_FIELDS),  # LAST^FIRST in each
        (bold, "descrip", "listed name or ID", "identifying"),
        (sidecar, "AcquisitionNotes", "date of birth", "identifying"),
        (sidecar, "AcquisitionNotes", "name", "review"),
        (sidecar, "Comment", "date of birth", "identifying"),
        ("participants.tsv", "notes", "date or time", "identifying"),  # a name is near
        ("participants.tsv", "name", "name", "identifying"),
        ("phenotype/history.tsv", "remark", "name", "review"),
        ("README", "line 3", "e-mail address", "review"),  # documentation: a contact, maybe
        ("README", "line 3", "date of birth", "identifying"),
        ("README", "line 3", "name", "review"),
        ("dicom/sub-01/", "PatientName", "name", "identifying"),
        ("dicom/sub-01/", "PatientBirthDate", "date of birth", "identifying"),
        ("dicom/sub-01/", "PatientID", "ID-like number", "identifying"),
        ("dicom/sub-01/", "OtherPatientIDs", "ID-like number", "identifying"),
        ("dicom/sub-01/", "InstitutionName", "institution", "review"),
        ("dicom/sub-01/", "ReferringPhysicianName", "staff name", "review"),
    }
    assert expected <= found, expected - found
    assert not [f for f in found if f[0] == "CHANGES"]  # a release date is not a finding
    assert not [f for f in found if f[0] == "dataset_description.json"]  # nor the authors
    # masked in every output: stdout, stderr, --json, the manifest, the card, the hidden state,
    # inspect (human and --json)
    human = cli("inspect", str(bids), "-q", "--known-identifiers", str(known))
    as_json = cli("inspect", str(bids), "-q", "--json", "--known-identifiers", str(known))
    written = {"stdout": result.stdout, "stderr": result.stderr, **_not_shards(out)}
    written |= {"inspect": human.stdout + human.stderr, "inspect --json": as_json.stdout}
    assert planted_leaks(written) == []
    # the README names a participant: the card does not copy it
    assert "not shown: the privacy scan found identifying values in the dataset's README" in (
        (out / "README.md").read_text()
    )


def test_the_remedies_leave_none_of_the_planted_values_in_the_shards(planted, tmp_path) -> None:
    import shutil

    from privacy_factory import fixed_readme, planted_leaks, shard_texts

    bids, known = planted
    source = tmp_path / "bids"
    shutil.copytree(bids, source)
    fixed_readme(source)  # free text in a README: the lab edits it
    out = tmp_path / "clean"
    args = ["build", str(source), str(out), "-q", "--json", "--known-identifiers", str(known)]
    built = cli(*args, *REMEDIES)
    assert built.returncode == 0, built.stderr
    privacy = json.loads(built.stdout)["privacy"]
    assert privacy["identifying"] == 0, privacy["findings"]
    assert privacy["participants_left_out"] == 1
    shards = shard_texts(out)
    assert {p.split("/")[0] for p in shards} == {"data", "files"}
    assert planted_leaks({**shards, "stdout": built.stdout, **_not_shards(out)}) == []
    # the DICOM files are still there, rewritten; the filtered-out participant's rows are not
    files = _files_config(out)
    assert {"dicom/sub-01/IM0001", "dicom/sub-01/IM0002.dcm.gz"} <= set(files)
    participants = files["participants.tsv"].decode()
    assert participants.splitlines() == ["participant_id\tage\tname", "sub-01\t44\tn/a"]
    assert files["phenotype/history.tsv"].decode() == "participant_id\tremark\nsub-01\tnone\n"
    card = (out / "README.md").read_text()
    assert "1 participant was left out of this publication" in card
    assert "sub-02" not in card and "DICOM files are published without the attributes" in card

    verified = cli("verify", str(out), "--source")
    assert verified.returncode == 0, verified.stderr
    on_purpose = [line for line in verified.stderr.splitlines() if "changed on purpose" in line]
    changed = {line.split(": ")[1] for line in on_purpose}
    assert {
        "sub-01/anat/sub-01_T1w.nii.gz",
        "sub-01/func/sub-01_task-rest_bold.nii",
        "sub-01/anat/sub-01_T1w.json",
        "participants.tsv",
        "phenotype/history.tsv",
        "dicom/sub-01/IM0001",
        "dicom/sub-01/IM0002.dcm.gz",
    } <= changed, on_purpose
    participants_line = next(line for line in on_purpose if "participants.tsv" in line)
    assert "rows of 1 participant left out by --subject" in participants_line
    assert "--exclude-dicom-tags" in next(line for line in on_purpose if "IM0001" in line)


def _files_config(out: Path) -> dict[str, bytes]:
    rows = [
        r for s in sorted((out / "files").glob("*.parquet")) for r in pq.read_table(s).to_pylist()
    ]
    return {r["path"]: r["content"]["bytes"] for r in rows if r["content"] is not None}


def test_a_raw_image_under_sourcedata_is_scanned_and_blanked_or_left_out(tmp_path: Path) -> None:
    """A NIfTI file no row holds (a raw image under sourcedata/) is published in the files
    config: its header is read, and a name there is identifying as anywhere. Either remedy
    removes it: --blank-nifti-headers stores it blanked (verify --source names it changed on
    purpose), --exclude 'sourcedata/**' leaves it out."""
    import nibabel as nib
    from privacy_factory import clean_bids, clean_image, shard_texts

    from nifti2parquet.commands.build import build
    from nifti2parquet.proof.verify import VerifyOptions, verify

    source = clean_bids(tmp_path / "bids")
    raw = clean_image(source / "sourcedata/sub-01/raw_t1.nii.gz", seed=9)
    image = nib.load(raw)
    image.header["descrip"] = b"SMITH^JOHN"
    nib.save(image, raw)
    rel = "sourcedata/sub-01/raw_t1.nii.gz"
    for name, more in (
        ("as-is", {}),
        ("blanked", {"blank_nifti_headers": True}),
        ("excluded", {"exclude": ("sourcedata/**",)}),
    ):
        out = tmp_path / name
        result = build(str(source), str(out), build_options(**more))
        found = [(f.file, f.field, f.severity) for f in result.privacy.findings]
        stored = shard_texts(out)["files/train-00000-of-00001.parquet"]
        assert (rel in stored) is (name != "excluded")
        assert ("SMITH^JOHN" in stored) is (name == "as-is"), name
        assert found == ([(rel, "descrip", "identifying")] if name == "as-is" else []), name
    report = verify(str(tmp_path / "blanked"), VerifyOptions(source=""))
    assert report.ok, report.problems
    [line] = [str(p) for p in report.on_purpose if rel in str(p)]
    assert "descrip blanked by --blank-nifti-headers" in line and "changed on purpose" in line
