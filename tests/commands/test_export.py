"""``export``: build → export gives the source tree back, file for file and byte for byte.

What a user checks: for each BIDS tree the tests build and each ``--rows`` layout, the exported
tree equals the source minus exactly the files the build reported as left out; a table source
gives its images back under the table's paths, and the table; a filtered export holds exactly the
selected files plus the dataset-level files, and pybids reads it as a BIDS dataset of those
subjects; a second run writes nothing; a file of the user's is never overwritten.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bids_factory import BidsTree, sessionless_tree
from exporttools import LAYOUTS, export_tree, exported_files, run_build, source_files
from factories import subject_table, tree_bytes

from nifti2parquet import ExportOptions, export
from nifti2parquet.common.selection import Selection


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BidsTree]:
    root = tmp_path_factory.mktemp("export-trees")
    return {
        "sessions": export_tree(root / "sessions"),
        "sessionless": sessionless_tree(root / "sessionless"),
    }


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["sessions", "sessionless"])
def test_round_trip_gives_the_source_minus_what_was_left_out(
    trees: dict[str, BidsTree], name: str, layout: str, tmp_path: Path
) -> None:
    tree = trees[name]
    built = run_build(tree.root, tmp_path / "out", rows=layout)
    left_out = {p.path for p in built.left_out}
    result = export(str(tmp_path / "out"), str(tmp_path / "dest"))

    expected = source_files(tree.root, left_out)
    assert exported_files(tmp_path / "dest") == expected
    assert (
        result.files_written
        == result.files_selected
        == len(expected)
        == built.files_found - len(left_out)
    )
    assert result.bytes_written == sum(map(len, expected.values()))
    if name == "sessions":  # what the build used to drop is back
        names = set(expected)
        assert "sub-01/ses-1/func/sub-01_ses-1_task-naming40_run-01_events.tsv" in names
        assert "derivatives/freesurfer/sub-01/mri/brainmask.nii.gz" in names
        assert "derivatives/lesion_masks/notes-café.txt" in names
        assert ".bidsignore" in names and "CHANGES" in names


def test_table_source_gives_images_under_the_table_paths_and_the_table(tmp_path: Path) -> None:
    dataset = subject_table(tmp_path / "source", subjects=3)
    run_build(dataset.table, tmp_path / "out")
    result = export(str(tmp_path / "out"), str(tmp_path / "dest"))

    source = dataset.table.parent
    expected = {p.relative_to(source).as_posix(): p.read_bytes() for p in dataset.images()}
    expected[dataset.table.name] = dataset.table.read_bytes()
    assert tree_bytes(tmp_path / "dest") == expected
    assert result.files_written == len(expected) == 3 + 3 + 1  # 3 T1w, 2+1 BOLD runs, the table


# filters -----------------------------------------------------------------------------------------
def names_subject(path: str, label: str) -> bool:
    """The issue's rule, written out independently of the code: a file under sub-<label>/, or a
    derivative file whose path names sub-<label>."""
    parts = path.split("/")
    if parts[0] == f"sub-{label}":
        return True
    return parts[0] == "derivatives" and any(
        p == f"sub-{label}" or p.startswith(f"sub-{label}_") for p in parts[2:]
    )


def dataset_level(path: str) -> bool:
    """At the dataset root, or at a derivative pipeline's root; or naming no subject at all."""
    parts = path.split("/")
    if len(parts) == 1 or (parts[0] == "derivatives" and len(parts) == 3):
        return True
    return not any(p.startswith("sub-") for p in parts)


@pytest.fixture(scope="module")
def sessions_build(trees: dict[str, BidsTree], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sessions-build") / "out"
    run_build(trees["sessions"].root, out)
    return out


def test_subject_export_is_that_subject_plus_dataset_files_and_pybids_reads_it(
    trees: dict[str, BidsTree], sessions_build: Path, tmp_path: Path
) -> None:
    full = tmp_path / "full"
    export(str(sessions_build), str(full))
    everything = exported_files(full)
    dest = tmp_path / "sub-02"
    result = export(str(sessions_build), str(dest), ExportOptions(Selection(subjects=("02",))))

    expected = {p: b for p, b in everything.items() if names_subject(p, "02") or dataset_level(p)}
    assert exported_files(dest) == expected
    assert result.files_selected == len(expected) < len(everything)
    assert (
        "derivatives/lesion_masks/sub-02/ses-1/anat/sub-02_ses-1_desc-lesion_mask.nii.gz"
        in expected
    )
    assert not any(names_subject(p, "01") or names_subject(p, "03") for p in exported_files(dest))

    from bids import BIDSLayout

    layout = BIDSLayout(str(dest), validate=True)
    assert layout.get_subjects() == ["02"]
    assert sorted(layout.get_sessions()) == ["1", "2"]
    images = layout.get(extension=[".nii", ".nii.gz"], return_type="filename")
    assert len(images) == 2  # rest BOLD, T2w; the validator rejects the T1w's foo-bar entity
    unvalidated = BIDSLayout(str(dest), validate=False)
    assert len(unvalidated.get(extension=[".nii", ".nii.gz"])) == 3  # which is there too


def test_datatype_and_task_filters_keep_what_build_would(
    sessions_build: Path, tmp_path: Path
) -> None:
    options = ExportOptions(Selection(subjects=("01",), datatypes=("func",), tasks=("rest",)))
    export(str(sessions_build), str(tmp_path / "dest"), options)
    got = set(exported_files(tmp_path / "dest"))
    subject_files = {p for p in got if p.startswith("sub-01/")}
    assert subject_files == {
        "sub-01/sub-01_sessions.tsv",
        "sub-01/sub-01_task-naming40_bold.json",
        "sub-01/ses-1/sub-01_ses-1_scans.tsv",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_bold.nii.gz",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_sbref.nii.gz",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_events.tsv",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_physio.tsv.gz",
    }
    assert {"dataset_description.json", "participants.tsv", ".bidsignore", "README"} <= got


# resuming and refusing ---------------------------------------------------------------------------
def test_second_run_writes_nothing_and_leaves_only_dataset_files(
    sessions_build: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    first = export(str(sessions_build), str(dest))
    stale = dest / "sub-01" / ".sub-01_sessions.tsv.n2p-0123456789ab.partial"
    stale.write_bytes(b"half")  # what a killed export leaves
    second = export(str(sessions_build), str(dest))

    assert second.files_written == 0 and second.files_present == first.files_written
    assert second.bytes_written == 0
    assert not stale.exists()
    assert not [p for p in dest.rglob("*") if "n2p" in p.name or "nifti2parquet" in p.name]
    # only footers and small columns were read: no page of any file
    assert second.bytes_fetched < first.bytes_fetched
    assert second.shards_read == 0


def test_refuses_to_overwrite_a_file_it_did_not_write(sessions_build: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "README").write_text("my own notes\n")
    proc = cli("export", str(sessions_build), str(dest))

    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "README" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["README"]  # nothing else written
    assert (dest / "README").read_text() == "my own notes\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nifti2parquet", *args], capture_output=True, text=True, timeout=120
    )


def test_subject_export_reads_paths_and_imports_no_reader_of_a_source(
    sessions_build: Path, tmp_path: Path
) -> None:
    """``export --subject`` chooses files by their paths in a built dataset: of the sources it
    imports the kinds' path rules, none of what reads a source (the BIDS schema, the header checks
    and their inflate, the layouts, the rows' classes, nibabel), and gives the same files as the
    Python API's export of that subject."""
    dest, api = tmp_path / "dest", tmp_path / "api"
    command = [sys.executable, "-X", "importtime", "-m", "nifti2parquet", "export"]
    proc = subprocess.run(
        [*command, str(sessions_build), str(dest), "--subject", "02"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines}
    assert "nifti2parquet.sources.registry" in imported  # the list holds what it imports
    readers = (
        "nifti2parquet.sources.bids.reader",
        "nifti2parquet.sources.bids.headers",
        "nifti2parquet.sources.bids.layouts",
        "nifti2parquet.sources.bids.rules",
        "nifti2parquet.sources.segmentation.reader",
        "nifti2parquet.sources.table.reader",
        "nifti2parquet.common.nifti.checks",
        "nifti2parquet.common.nifti.gunzip",
        "nifti2parquet.common.rows",
        "bidsschematools",
        "nibabel",
    )
    assert not [name for name in imported if name.startswith(readers)]
    export(str(sessions_build), str(api), ExportOptions(Selection(subjects=("02",))))
    assert exported_files(dest) == exported_files(api) != {}


def test_cli_json_summary_and_user_errors(sessions_build: Path, tmp_path: Path) -> None:
    proc = cli("export", str(sessions_build), str(tmp_path / "dest"), "--subject", "03", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["files_written"] == data["files_selected"] > 0
    assert data["bytes_written"] == sum(len(b) for b in tree_bytes(tmp_path / "dest").values())

    missing = cli("export", str(tmp_path / "nowhere"), str(tmp_path / "d2"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "not a built dataset folder, nor a Hub dataset repo id" in missing.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    not_built = cli("export", str(plain), str(tmp_path / "d3"))
    assert not_built.returncode == 2 and "no files/ shards" in not_built.stderr
    assert not (tmp_path / "d2").exists() and not (tmp_path / "d3").exists()
