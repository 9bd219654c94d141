"""A failed build leaves OUTPUT_DIR exactly as it found it: no folder when there was none, the
user's files and nothing else when there were some, an earlier build untouched; finished shards
alone stay, so that the same command resumes. One test per way a build fails on its input."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from bids_factory import BidsTree
from click.testing import CliRunner
from factories import build_options, nifti_bytes, subject_table

from nifti2parquet import build
from nifti2parquet.commands.cli import main
from nifti2parquet.common.errors import InputError, OutputError
from nifti2parquet.common.progress import Bar, Reporter
from nifti2parquet.shards.output import OutputFolder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with its content's sha256 (folders: "dir")."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): (
            "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        )
        for p in sorted(folder.rglob("*"))
    }


def bids(root: Path) -> BidsTree:
    t = BidsTree(root)
    t.description()
    t.image("sub-01/anat/sub-01_T1w.nii.gz")
    t.image("sub-02/anat/sub-02_T1w.nii.gz")
    return t


def non_bids_folder(tmp: Path) -> list[str]:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "a.txt").write_text("not a dataset")
    return [str(tmp / "notes")]


def empty_folder(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return [str(tmp / "empty")]


def bids_without_images(tmp: Path) -> list[str]:
    t = BidsTree(tmp / "bids")
    t.description()
    return [str(t.root)]


def truncated_input(tmp: Path) -> list[str]:
    t = bids(tmp / "bids")
    path = t.root / "sub-02/anat/sub-02_T1w.nii.gz"
    path.write_bytes(path.read_bytes()[:-20])
    return [str(t.root)]


def truncated_header(tmp: Path) -> list[str]:
    t = BidsTree(tmp / "bids")
    t.description()
    t.raw("sub-01/anat/sub-01_T1w.nii", nifti_bytes()[:100], left_out=None)
    return [str(t.root)]


def missing_file(tmp: Path) -> list[str]:
    data = subject_table(tmp / "table", subjects=2)
    data.images()[0].unlink()
    return [str(data.table)]


def filter_matching_nothing(tmp: Path) -> list[str]:
    return [str(bids(tmp / "bids").root), "--subject", "nobody"]


def no_source(tmp: Path) -> list[str]:
    return [str(tmp / "not-there")]


FAILURES: dict[str, Callable[[Path], list[str]]] = {
    "non-BIDS folder": non_bids_folder,
    "empty folder": empty_folder,
    "BIDS folder without images": bids_without_images,
    "truncated input": truncated_input,
    "truncated header": truncated_header,
    "missing file": missing_file,
    "filter matching nothing": filter_matching_nothing,
    "no source": no_source,
}


def with_users_files(out: Path) -> None:
    out.mkdir()
    (out / "CARD.md").write_text("My words on the dataset.\n")


def with_earlier_build(out: Path) -> None:
    source = bids(out.parent / "earlier")
    build(str(source.root), str(out), build_options(previews=False))


def with_empty_folder(out: Path) -> None:
    out.mkdir()


BEFORE = {
    "no folder": lambda out: None,
    "an empty folder": with_empty_folder,
    "the user's CARD.md": with_users_files,
    "an earlier build": with_earlier_build,
}


@pytest.mark.parametrize("before", list(BEFORE))
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_build_leaves_the_folder_as_it_was(
    failure: str, before: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    BEFORE[before](out)
    held = snapshot(out)
    existed = out.exists()
    args = FAILURES[failure](tmp_path)
    result = CliRunner().invoke(main, ["build", args[0], str(out), "-q", *args[1:]])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) >= 1 and "Traceback" not in result.output
    assert out.exists() == existed
    assert snapshot(out) == held


def test_a_build_that_finished_shards_keeps_them_for_the_next_run(tmp_path: Path) -> None:
    """A file that breaks while shards are written: the finished shards and their markers stay
    (the same command resumes), the lock and temp files go."""
    data = subject_table(tmp_path / "table", subjects=6, sizes=(30_000,))
    out = tmp_path / "out"
    options = build_options(max_shard_size=40_000, workers=1, previews=False)
    last = data.images()[-1]

    class TruncatingBar(Bar):
        def update(self, n: int = 1) -> None:  # the first bytes written: break the last image
            if len(last.read_bytes()) > 100:
                last.write_bytes(last.read_bytes()[:100])

    class Truncating(Reporter):
        def bar(self, total: int, description: str, unit: str = "B") -> Bar:
            return TruncatingBar() if unit == "B" else Bar()

    with pytest.raises(InputError, match="changed during the build"):
        build(str(data.table), str(out), options, Truncating())
    left = snapshot(out)
    shards = [p for p in left if p.startswith("data/")]
    markers = [p for p in left if "/markers/" in p and left[p] != "dir"]
    assert shards and len(markers) == len(shards)
    assert not [p for p in left if p.endswith((".lock", ".partial"))]


def test_a_build_refused_by_the_lock_removes_nothing(tmp_path: Path) -> None:
    """Another build holds the folder: the refused one must not touch what that one writes."""
    source = bids(tmp_path / "bids")
    out = tmp_path / "out"
    output = OutputFolder(str(out))
    output.makedirs(".nifti2parquet/tmp")
    with output.lock("build-train"):
        (out / ".nifti2parquet" / "tmp" / "shard.partial").write_bytes(b"the other build's")
        held = snapshot(out)
        with pytest.raises(OutputError, match="another nifti2parquet build"):
            build(str(source.root), str(out), build_options(previews=False))
        assert snapshot(out) == held
