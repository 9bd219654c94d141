"""``inspect``: what build would make of a source, from headers only, writing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bids_factory import BidsTree, CountingMemoryFS, copy_to_memory, sessions_tree
from click.testing import CliRunner
from factories import build_options, subject_table, tree_bytes

from nifti2parquet.commands.build import build
from nifti2parquet.commands.cli import main
from nifti2parquet.commands.inspect import inspect_source


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> BidsTree:
    return sessions_tree(tmp_path_factory.mktemp("inspect") / "ds")


def test_inspect_matches_what_build_does(tree: BidsTree, tmp_path: Path) -> None:
    before = tree_bytes(tree.root)
    options = build_options(on_error="skip", workers=1, max_shard_size=400_000)
    report = inspect_source(str(tree.root), options)
    assert tree_bytes(tree.root) == before  # nothing written into the source

    result = build(str(tree.root), str(tmp_path / "out"), options)
    assert (report.kind, report.layout) == ("bids", "session")
    assert report.num_rows == result.num_rows == 5
    assert report.num_images == result.num_images == len(tree.included)
    assert report.image_bytes == result.image_bytes
    found = report.files_written + report.other_files + len(report.left_out)
    assert report.files_found == len(tree.found) == found
    assert report.other_files == result.other_files == len(tree.others)
    assert report.left_out == result.left_out
    assert {p.path: p.severity for p in report.left_out} == tree.left_out
    assert len(report.shards) == result.num_shards > 1  # the plan inspect shows is build's
    shards = sorted((tmp_path / "out/data").iterdir())
    assert [s.path for s in report.shards] == [f"data/{p.name}" for p in shards]
    assert all(p.stat().st_size <= s.max_bytes for p, s in zip(shards, report.shards))
    assert sum(s.images for s in report.shards) == report.num_images
    columns = {c.name: c for c in report.columns}
    assert (columns["t1w"].type, columns["t1w"].images) == ("List(Nifti())", 5)
    assert (columns["t2w"].type, columns["age"].type) == ("Nifti()", "int64")
    assert columns["t1w_info"].type.startswith("List(struct(")
    assert sum(c.images for c in report.columns) == report.num_images
    assert report.stop_reason == "" and report.blocking == ()


def test_inspect_says_when_build_would_stop(tree: BidsTree) -> None:
    report = inspect_source(str(tree.root), build_options())  # --on-error fail
    assert report.stop_reason.startswith("1 input file cannot be used")
    assert [p.path for p in report.blocking] == ["sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz"]
    lines = "\n".join(report.lines())
    assert "build would stop: 1 input file cannot be used" in lines
    line = (
        "files: 48 named by the source = 18 images to write + 29 other files (the 'files' "
        "config) + 1 left out"
    )
    assert line in lines
    for problem in report.left_out:  # every file left out is listed with its reason
        assert f"[{problem.severity}] {problem.path}: {problem.message}" in lines


def test_inspect_reads_headers_only(tmp_path: Path) -> None:
    t = BidsTree(tmp_path / "big")
    t.description()
    shape = (64, 64, 40)  # ~330 KB per image
    t.image("sub-01/anat/sub-01_T1w.nii", shape=shape)
    t.image("sub-01/anat/sub-01_T2w.nii.gz", shape=shape)
    t.image("sub-02/anat/sub-02_T1w.nii.gz", shape=shape)
    url = copy_to_memory(t.root, "inspect-big")
    report = inspect_source(url, build_options())
    assert report.num_images == 3 and report.image_bytes > 3 * 200_000
    read = CountingMemoryFS.bytes_read
    images = {k: v for k, v in read.items() if ".nii" in k}
    assert len(images) == 3
    assert all(n <= 80 * 1024 for n in images.values()), images
    assert sum(read.values()) < report.image_bytes / 3
    # On an object store a read fetches whole read-ahead blocks: they must be small too.
    assert CountingMemoryFS.block_sizes and max(CountingMemoryFS.block_sizes) <= 64 * 1024


def test_inspect_a_table(tmp_path: Path) -> None:
    data = subject_table(tmp_path, subjects=3)
    report = inspect_source(str(data.table), build_options())
    assert (report.kind, report.layout, report.num_rows) == ("table", "", 3)
    assert report.num_images == len(data.images())
    assert report.files_found == report.files_written + report.other_files + len(report.left_out)


def test_cli_inspect_json_and_text(tree: BidsTree) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(tree.root), "--json", "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found = data["files_written"] + data["other_files"] + data["files_left_out"]
    assert data["files_found"] == found == 48
    assert data["num_shards"] == 1 and data["stop_reason"] == ""
    assert {c["name"]: c["type"] for c in data["columns"]}["bold_naming40"] == "List(Nifti())"
    assert {p["path"] for p in data["left_out"]} == set(tree.left_out)

    text = runner.invoke(main, ["inspect", str(tree.root), "--rows", "file", "--no-derivatives"])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith(f"BIDS dataset {tree.root} (one row per file)")
    assert "derivative left out (--no-derivatives)" in text.stdout
