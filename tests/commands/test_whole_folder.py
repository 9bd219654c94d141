"""The dataset is the folder: a BIDS build publishes every file under it, byte for byte.

What a publisher checks: build → export gives the folder back file for file, dot files,
``sourcedata/``, ``stimuli/``, ``code/``, what ``.bidsignore`` lists and a pipeline's own
``.bidsignore`` included; version control (``.git``, ``.datalad``) is not read, and a build
inside the source folder is never published by the next build (three builds into ``SOURCE/out``
publish the same files config); the summary adds up and names each folder not read once;
``--exclude`` leaves out exactly what it matches, counted per pattern in the summary, the
manifest and the card; a file nifti2parquet cannot read is still published, with one warning;
``--checksum`` catches an edit the default (size and modification time) cannot see.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bids_factory import BidsTree
from exporttools import exported_files
from factories import build_options, tree_bytes

from nifti2parquet import export
from nifti2parquet.commands.build import build
from nifti2parquet.common.errors import InputError


def folder_dataset(root: Path) -> BidsTree:
    """A BIDS dataset with every kind of file a BIDS crawl does not index."""
    t = BidsTree(root)
    t.description()
    t.text("README", "A dataset.\n")
    t.text(".bidsignore", "extra/\n*_FLASH.nii.gz\n")
    t.image("sub-01/anat/sub-01_T1w.nii.gz")
    t.image("sub-01/func/sub-01_task-faces_bold.nii.gz", shape=(4, 3, 2, 5))
    t.json("sub-01/func/sub-01_task-faces_bold.json", {"TaskName": "faces", "RepetitionTime": 2})
    t.text("sub-01/func/sub-01_task-faces_events.tsv", "onset\tduration\tstim_file\n0\t1\tf1.png\n")
    t.image("sub-02/anat/sub-02_T1w.nii.gz")
    t.image("sub-02/anat/sub-02_FLASH.nii.gz", other=True)  # .bidsignore'd: files config only
    t.raw("stimuli/f1.png", b"\x89PNG\r\n\x1a\nface", other=True)
    t.raw("sourcedata/sub-01/dicom/IM0001.dcm", b"DICM" * 8, other=True)
    t.image("sourcedata/sub-01/sub-01_T1w.nii.gz", other=True)
    t.text("code/convert.sh", "#!/bin/sh\ndcm2niix .\n")
    t.text("extra/notes.txt", "lab notes\n")
    t.raw(".DS_Store", b"\x00\x00\x00\x01Bud1", other=True)
    t.text("derivatives/prep/dataset_description.json", '{"Name": "prep"}')
    t.text("derivatives/prep/.bidsignore", "figures/\n")
    t.text("derivatives/prep/figures/sub-01.html", "<html></html>")
    (root / ".git/annex/objects").mkdir(parents=True)
    (root / ".git/annex/objects/key").write_bytes(b"annexed content")
    (root / ".git/config").write_text("[core]\n")
    (root / ".datalad").mkdir()
    (root / ".datalad/config").write_text("[datalad]\n")
    return t


@pytest.fixture
def dataset(tmp_path: Path) -> BidsTree:
    return folder_dataset(tmp_path / "ds")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nifti2parquet", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def not_version_control(files: dict[str, bytes]) -> dict[str, bytes]:
    return {p: b for p, b in files.items() if not p.startswith((".git/", ".datalad/"))}


def test_every_file_of_the_folder_comes_back_but_version_control(
    dataset: BidsTree, tmp_path: Path
) -> None:
    result = build(str(dataset.root), str(tmp_path / "out"), build_options(workers=1))
    export(str(tmp_path / "out"), str(tmp_path / "back"))
    source = not_version_control(tree_bytes(dataset.root))
    assert exported_files(tmp_path / "back") == source  # file for file, byte for byte
    assert {"stimuli/f1.png", ".DS_Store", "derivatives/prep/.bidsignore"} <= set(source)
    assert result.files_found == len(source) == result.num_images + result.other_files
    assert result.num_images == 3 and result.left_out == ()  # the FLASH image is no row
    assert [(p.path, p.message) for p in result.skipped] == [
        (".datalad/", "not read: version control (.datalad)"),
        (".git/", "not read: version control (.git)"),
    ]
    assert "not read: .datalad/ (version control), .git/ (version control)" in result.summary()


def test_a_build_inside_the_source_is_never_published(dataset: BidsTree) -> None:
    """Three builds into SOURCE/out: the same files config each time, none of out/ in it."""
    out = dataset.root / "out"
    configs, summaries = [], []
    for _ in range(3):
        done = run_cli("build", str(dataset.root), str(out), "--no-previews", "-q", "--json")
        assert done.returncode == 0, done.stderr
        summaries.append(json.loads(done.stdout))
        shards = sorted((out / "files").glob("*.parquet"))
        configs.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in shards])
    assert configs[0] == configs[1] == configs[2]
    manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
    assert {"path": "out/", "message": "not read: a nifti2parquet build (it holds "
            ".nifti2parquet/)", "severity": "info"} in manifest["skipped"]  # fmt: skip
    assert summaries[2]["summary"].count("out/") == 1  # named once
    export(str(out), str(dataset.root.parent / "back"))
    assert not (dataset.root.parent / "back/out").exists()
    assert summaries[2]["shards_reused"] == summaries[2]["num_shards"]


def test_exclude_leaves_out_exactly_what_it_matches(dataset: BidsTree, tmp_path: Path) -> None:
    patterns = ("sourcedata/", "*.html", "!derivatives/prep/figures/keep.html", "nothing/")
    (dataset.root / "derivatives/prep/figures/keep.html").write_text("<p>kept</p>")
    out = tmp_path / "out"
    result = build(str(dataset.root), str(out), build_options(workers=1, exclude=patterns))
    excluded = {p.path: p.message for p in result.left_out}
    assert excluded == {
        "sourcedata/sub-01/dicom/IM0001.dcm": "excluded by --exclude 'sourcedata/'",
        "sourcedata/sub-01/sub-01_T1w.nii.gz": "excluded by --exclude 'sourcedata/'",
        "derivatives/prep/figures/sub-01.html": "excluded by --exclude '*.html'",
    }
    assert "(3 excluded)" in result.summary()
    export(str(out), str(tmp_path / "back"))
    source = not_version_control(tree_bytes(dataset.root))
    assert exported_files(tmp_path / "back") == {
        k: v for k, v in source.items() if k not in excluded
    }
    manifest = json.loads((out / ".nifti2parquet/train/manifest.json").read_text())
    assert manifest["settings"]["source"]["exclude"] == list(patterns)
    card = (out / "README.md").read_text()
    for pattern, n in [("sourcedata/", 2), ("*.html", 1), ("nothing/", 0)]:
        assert f"| `{pattern}` | {n} |" in card
    assert "| `derivatives/prep/figures/sub-*.html` | 1 |" in card  # subject labels masked


def test_exclude_is_checked_before_anything_is_read(dataset: BidsTree, tmp_path: Path) -> None:
    done = run_cli("build", str(dataset.root), str(tmp_path / "out"), "--exclude", "")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--exclude '': an empty pattern or a comment" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_file_that_cannot_be_read_is_published_with_a_warning(
    dataset: BidsTree, tmp_path: Path
) -> None:
    """Only what a row needs can stop a build: an empty behavioural table, a JSON file that is
    not JSON and a table with a bad row are stored byte for byte, each with one warning."""
    broken = {
        "sub-01/beh/sub-01_task-faces_beh.tsv": b"",
        "sub-01/func/sub-01_task-faces_events.tsv": b"onset\tduration\n1\t2\t3\n",
        "derivatives/prep/sub-01/sub-01_desc-qc.json": b'{"score": 1,',
    }
    for rel, data in broken.items():
        (dataset.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (dataset.root / rel).write_bytes(data)
    done = run_cli("build", str(dataset.root), str(tmp_path / "out"), "--no-previews", "-q")
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    for rel in broken:
        assert len([w for w in warned if w.startswith(f"warning: {rel}: ")]) == 1, rel
    assert (
        "warning: sub-01/beh/sub-01_task-faces_beh.tsv: cannot be read as a table: the table is "
        "empty (no header row); published byte for byte as it is"
    ) in warned
    export(str(tmp_path / "out"), str(tmp_path / "back"))
    for rel, data in broken.items():
        assert (tmp_path / "back" / rel).read_bytes() == data


def test_checksum_catches_an_edit_that_size_and_time_do_not(
    dataset: BidsTree, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    image = dataset.image("sub-03/anat/sub-03_T1w.nii")
    build(str(dataset.root), str(out), build_options(workers=1, previews=False))
    before = image.stat()
    data = bytearray(image.read_bytes())
    data[-1] ^= 0xFF  # one voxel: the header (and so every value of the row) stays the same
    image.write_bytes(bytes(data))
    os.utime(image, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same time

    default = build(str(dataset.root), str(out), build_options(workers=1, previews=False))
    assert default.shards_written == 0  # the default sees nothing: the old bytes are kept
    found = run_cli("verify", str(out), "--source")
    assert found.returncode == 1 and "sub-03/anat/sub-03_T1w.nii: source file differs" in (
        found.stderr
    )
    checked = build(
        str(dataset.root), str(out), build_options(workers=1, previews=False, checksum=True)
    )
    assert checked.shards_written == 1 and checked.shards_reused == 0
    assert run_cli("verify", str(out), "--source").returncode == 0
    again = build(str(dataset.root), str(out), build_options(workers=1, checksum=True))
    assert again.shards_written == 0  # nothing changed since: every shard reused


def test_a_filter_that_selects_nothing_is_one_line(dataset: BidsTree, tmp_path: Path) -> None:
    for command in (
        ["build", str(dataset.root), str(tmp_path / "out"), "--subject", "99"],
        ["inspect", str(dataset.root), "--subject", "99"],
    ):
        done = run_cli(*command)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "--subject 99 selects no image" in done.stderr
    assert not (tmp_path / "out").exists()
    build(str(dataset.root), str(tmp_path / "out"), build_options(workers=1, previews=False))
    done = run_cli("export", str(tmp_path / "out"), str(tmp_path / "back"), "--subject", "99")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--subject 99 selects no file of the dataset" in done.stderr
    assert not (tmp_path / "back").exists()


def test_export_of_a_mistyped_folder_is_not_a_repo_id(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "nifti2parquet", "export", "out/ds0001", "dest"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "out/ds0001: no such folder (but out/ is here" in done.stderr
    assert not (tmp_path / "dest").exists()


def test_a_template_dataset_has_a_row_per_image(tmp_path: Path) -> None:
    """No subject: each image that fits no subject row is a row of its own, with its path."""
    t = BidsTree(tmp_path / "atlas")
    t.description(DatasetType="derivative")
    t.image("tpl-MNI/anat/tpl-MNI_res-1_T1w.nii.gz", other=True)
    t.image("tpl-MNI/anat/tpl-MNI_atlas-AAL_res-1_dseg.nii.gz", other=True)
    t.text("tpl-MNI/anat/tpl-MNI_atlas-AAL_res-1_dseg.tsv", "index\tname\n1\tPrecentral_L\n")
    result = build(str(t.root), str(tmp_path / "out"), build_options(workers=1, previews=False))
    assert (result.num_rows, result.num_images, result.other_files) == (2, 2, 2)
    assert result.warnings == ()
    export(str(tmp_path / "out"), str(tmp_path / "back"))
    assert exported_files(tmp_path / "back") == tree_bytes(t.root)
    with pytest.raises(InputError, match="no NIfTI image to build"):
        empty = BidsTree(tmp_path / "empty")
        empty.description()
        empty.text("code/notes.txt", "no images\n")
        build(str(empty.root), str(tmp_path / "out2"), build_options(workers=1))
