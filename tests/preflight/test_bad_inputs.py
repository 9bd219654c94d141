"""Every kind of bad input gets a clear answer, in both ``--on-error`` modes.

Each case puts one bad file next to a good one in a table and runs the real CLI. ``fail``: exit 2,
one line naming the file and the problem, nothing written (no shard, no card). ``skip``: exit 0, the
good file built, the bad one listed with its reason in the summary, the ``--json`` output and the
dataset card. Files that are valid but odd (NIfTI-2, a misleading extension) are built in both modes
with a warning.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import nifti_bytes

GOOD = "good_T1w.nii.gz"


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def big_gz() -> bytes:
    """A .nii.gz large enough that a flipped byte is not in the first decompressed block."""
    return gzip.compress(nifti_bytes(shape=(64, 64, 32), seed=3), compresslevel=1, mtime=0)


def header_only() -> bytes:
    image = nifti_bytes()
    return image[:352]


def lfs_pointer() -> bytes:
    return (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 123456\n"
    )


def sparse_nifti(path: Path, size: int) -> None:
    """A valid NIfTI header on a sparse body: a real 2 GiB image that takes no disk space."""
    import nibabel as nib
    import numpy as np

    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    slices = (size - 352) // (512 * 512)
    header.set_data_shape((512, 512, slices))
    header["vox_offset"] = 352
    with open(path, "wb") as f:
        f.write(header.binaryblock + b"\0" * 4)
        f.truncate(352 + 512 * 512 * slices)


def analyze_header() -> bytes:
    import nibabel as nib
    import numpy as np

    return nib.AnalyzeImage(np.zeros((4, 4, 4), np.int16), np.eye(4)).header.binaryblock


@dataclass(frozen=True)
class Case:
    name: str
    file: str  # the bad file's name in the table
    make: Callable[[Path], None]  # creates it
    message: str  # expected in the problem line
    severity: str = "error"
    options: tuple[str, ...] = ()


CASES = [
    Case("empty", "empty.nii.gz", lambda p: write(p, b""), "empty file (0 bytes)"),
    Case("truncated gzip", "cut.nii.gz", lambda p: write(p, big_gz()[:-5000]), "truncated"),
    Case(
        "bad crc",
        "crc.nii.gz",
        lambda p: write(p, flip_middle_byte(big_gz())),
        "corrupt gzip",
        options=("--check", "deep"),
    ),
    Case(
        "text", "notes.nii.gz", lambda p: write(p, b"subject notes\nall fine\n"), "not a NIfTI file"
    ),
    Case(
        "html",
        "page.nii.gz",
        lambda p: write(p, b"<!DOCTYPE html><html><body>404</body></html>"),
        "looks like HTML",
    ),
    Case("lfs pointer", "lfs.nii.gz", lambda p: write(p, lfs_pointer()), "git lfs pull"),
    Case("header only", "hdr_only.nii", lambda p: write(p, header_only()), "header-only NIfTI"),
    Case("truncated raw", "cut.nii", lambda p: write(p, nifti_bytes()[:-100]), "truncated"),
    Case(
        "annex symlink",
        "annex.nii.gz",
        lambda p: os.symlink("../.git/annex/objects/Xk/MD5E-s1--abc.nii.gz/MD5E-s1--abc.nii.gz", p),
        "datalad get",
    ),
    Case(
        "broken symlink", "gone.nii.gz", lambda p: os.symlink("nowhere.nii.gz", p), "broken symlink"
    ),
    Case("missing", "missing.nii.gz", lambda p: None, "missing file"),
    Case("folder", "folder.nii.gz", lambda p: p.mkdir(), "is a folder"),
    Case("2 GiB", "huge.nii", lambda p: sparse_nifti(p, 2**31 + 4096), "2 GiB"),
    Case(
        "analyze",
        "scan.hdr",
        lambda p: write(p, analyze_header()),
        "Analyze",
        options=("--image-column", "scan"),
    ),
    Case(
        "nifti-2",
        "v2.nii.gz",
        lambda p: write(p, nifti_bytes(gz=True, version=2)),
        "NIfTI-2",
        severity="warning",
    ),
    Case(
        "gzip named .nii",
        "zipped.nii",
        lambda p: write(p, nifti_bytes(gz=True)),
        "gzip-compressed",
        severity="warning",
    ),
    Case(
        ".nii.gz not gzip",
        "plain.nii.gz",
        lambda p: write(p, nifti_bytes()),
        "not gzip",
        severity="warning",
    ),
]


def run(table: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nifti2parquet", "build", str(table), str(out), "--json", *options],
        capture_output=True,
        text=True,
        timeout=300,
    )


def setup(tmp_path: Path, case: Case) -> Path:
    (tmp_path / GOOD).write_bytes(nifti_bytes(gz=True))
    case.make(tmp_path / case.file)
    table = tmp_path / "t.csv"
    table.write_text(f"subject_id,scan\nsub-01,{GOOD}\nsub-02,{case.file}\n")
    return table


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fail_mode_stops_before_writing(tmp_path: Path, case: Case) -> None:
    table = setup(tmp_path, case)
    out = tmp_path / "out"
    result = run(table, out, *case.options)
    if case.severity == "warning":
        assert result.returncode == 0, result.stderr
        assert f"warning: {case.file}: " in result.stderr and case.message in result.stderr
        assert json.loads(result.stdout)["files_written"] == 2
        return
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {case.file}: ") and case.message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (out / "data").exists() and not (out / "README.md").exists()


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.severity == "error"],
    ids=[c.name for c in CASES if c.severity == "error"],
)
def test_skip_mode_builds_the_rest_and_says_what_it_left_out(tmp_path: Path, case: Case) -> None:
    table = setup(tmp_path, case)
    out = tmp_path / "out"
    result = run(table, out, "--on-error", "skip", *case.options)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    counts = (summary["files_found"], summary["files_written"], summary["files_left_out"])
    assert counts == (3, 1, 1)  # the table itself is found (and published) too
    [left] = summary["left_out"]
    assert left["path"] == case.file and case.message in left["message"]
    assert f"left out: {case.file}: " in result.stderr
    card = (out / "README.md").read_text()
    assert "## Files left out" in card and f"`{case.file}`" in card
    assert len(list((out / "data").iterdir())) == 1


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    """Permission denied. Root reads any file: as root, the build runs without the capabilities
    that allow it (still root, so it can import the package wherever it is installed)."""
    (tmp_path / GOOD).write_bytes(nifti_bytes(gz=True))
    (tmp_path / "secret.nii.gz").write_bytes(nifti_bytes(gz=True, seed=2))
    (tmp_path / "secret.nii.gz").chmod(0o000)
    (tmp_path / "t.csv").write_text(f"scan\n{GOOD}\nsecret.nii.gz\n")
    command = [sys.executable, "-m", "nifti2parquet", "build", str(tmp_path / "t.csv")]
    command.append(str(tmp_path / "out"))
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        drop = "--bounding-set=-dac_override,-dac_read_search"
        command = ["setpriv", drop, *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("error: secret.nii.gz: cannot read: permission denied")
    assert not (tmp_path / "out" / "README.md").exists()


def test_same_file_twice_and_uppercase_extension(tmp_path: Path) -> None:
    """Issue 13, item 5: a table naming one file in two rows stores it in both, warned once."""
    (tmp_path / "A_T1W.NII.GZ").write_bytes(nifti_bytes(gz=True))
    (tmp_path / "t.csv").write_text("scan\nA_T1W.NII.GZ\nA_T1W.NII.GZ\n")
    result = run(tmp_path / "t.csv", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files_written"] == 2 and summary["files_left_out"] == 0
    assert result.stderr.splitlines() == [
        "warning: table: 1 file named in more than one cell (2 cells in all; e.g. A_T1W.NII.GZ "
        "in 2): each cell stores its own copy of the image"
    ]
    checked = subprocess.run(
        [sys.executable, "-m", "nifti2parquet", "verify", str(tmp_path / "out"), "--source"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stderr
    assert "2 images" in checked.stdout and "OK" in checked.stdout


def test_all_problems_are_reported_not_just_the_first(tmp_path: Path) -> None:
    (tmp_path / "a.nii.gz").write_bytes(b"")
    (tmp_path / "b.nii.gz").write_bytes(b"<html></html>")
    (tmp_path / "t.csv").write_text("scan\na.nii.gz\nb.nii.gz\nc.nii.gz\n")
    result = run(tmp_path / "t.csv", tmp_path / "out")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        "error: 3 input files cannot be used; nothing was written "
        "(fix them, or use --on-error skip to build without them):"
    )
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "a.nii.gz",
        "b.nii.gz",
        "c.nii.gz",
    ]


def bids_with_messy_metadata(root: Path) -> Path:
    """A BIDS tree with a Latin-1 participants.tsv, a malformed sidecar and a non-UTF-8 name."""
    (root / "sub-01" / "anat").mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "messy", "BIDSVersion": "1.9.0"}')
    (root / "participants.tsv").write_bytes(
        "participant_id\tsite\nsub-01\tZürich\n".encode("latin-1")
    )
    (root / "sub-01" / "anat" / "sub-01_T2w.nii.gz").write_bytes(nifti_bytes(gz=True))
    (root / "sub-01" / "anat" / "sub-01_T2w.json").write_text('{"EchoTime": 0.1,')
    raw = os.fsencode(str(root / "sub-01" / "anat")) + b"/sub-01_acq-z\xfcrich_T1w.nii.gz"
    with open(raw, "wb") as f:
        f.write(nifti_bytes(gz=True, seed=1))
    return root


@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_messy_bids_metadata_is_named_and_the_images_built(tmp_path: Path, mode: str) -> None:
    root = bids_with_messy_metadata(tmp_path / "ds")
    result = run(root, tmp_path / "out", "--on-error", mode)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: participants.tsv: not valid UTF-8 (byte 0xfc at offset 28); read as Latin-1"
        in result.stderr
    )
    assert "warning: sub-01/anat/sub-01_T2w.json: not valid JSON" in result.stderr
    assert (
        "warning: sub-01/anat/sub-01_acq-zürich_T1w.nii.gz: not a valid BIDS file" in result.stderr
    )  # and stored byte for byte in the files config, with the other three files
    summary = json.loads(result.stdout)
    counts = ("files_found", "files_written", "other_files", "files_left_out")
    assert tuple(summary[k] for k in counts) == (5, 1, 4, 0)
    from datasets import load_dataset

    row = load_dataset(str(tmp_path / "out"), split="train")[0]
    assert row["site"] == "Zürich" and row["t2w"] is not None


def test_non_utf8_file_name_in_a_table_is_stored_with_a_warning(tmp_path: Path) -> None:
    raw = os.fsencode(str(tmp_path)) + b"/Z\xfcrich_T1w.nii.gz"
    with open(raw, "wb") as f:
        f.write(nifti_bytes(gz=True))
    (tmp_path / "t.csv").write_bytes("scan\nZürich_T1w.nii.gz\n".encode("latin-1"))
    for mode in ("fail", "skip"):
        result = run(tmp_path / "t.csv", tmp_path / f"out-{mode}", "--on-error", mode)
        assert result.returncode == 0, result.stderr
        assert (
            "warning: Zürich_T1w.nii.gz: file name is not valid UTF-8 on disk; stored in "
            "`path` as 'Zürich_T1w.nii.gz' (read as Latin-1)"
        ) in result.stderr
        assert json.loads(result.stdout)["files_written"] == 1
