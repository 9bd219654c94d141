"""The rules a publisher reads about paths: ``--exclude`` patterns (gitignore's), a table's stored
paths (relative, nothing of the machine), and long lists of files grouped by folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nifti2parquet.common.errors import InputError, OptionError, Problem
from nifti2parquet.common.file_groups import MAX_LINES, LeftOutLists, group_by_folder
from nifti2parquet.common.path_patterns import ExcludePatterns, pattern_counts
from nifti2parquet.common.stored_paths import stored_paths


@pytest.mark.parametrize(
    ("patterns", "path", "left_out_by"),
    [
        (("sourcedata/",), "sourcedata/sub-01/a.dcm", "sourcedata/"),
        (("sourcedata/",), "derivatives/x/sourcedata/a.dcm", "sourcedata/"),  # at any depth
        (("/sourcedata/",), "derivatives/x/sourcedata/a.dcm", None),  # anchored to the root
        (("*.log",), "logs/run.log", "*.log"),
        (("*.log", "!keep.log"), "logs/keep.log", None),  # brought back
        (("logs/*.txt",), "logs/a/b.txt", None),  # * stays within a folder
        (("logs/**/*.txt",), "logs/a/b.txt", "logs/**/*.txt"),
        (("sub-0[2-3]/",), "sub-03/anat/sub-03_T1w.nii.gz", "sub-0[2-3]/"),
        (("code",), "code/run.sh", "code"),  # a folder's name matches the folder
        ((), "anything", None),
    ],
)
def test_exclude_patterns_are_gitignore_patterns(
    patterns: tuple[str, ...], path: str, left_out_by: str | None
) -> None:
    rules = ExcludePatterns(patterns)
    assert rules.matching(path) == left_out_by
    assert rules.reason(path) == (f"excluded by --exclude {left_out_by!r}" if left_out_by else "")


def test_each_pattern_is_counted_and_a_bad_one_refused() -> None:
    rules = ExcludePatterns(("*.log", "scratch/", "nothing/"))
    left = [Problem(p, rules.reason(p), "info") for p in ("a.log", "b/c.log", "scratch/x")]
    assert pattern_counts(rules.patterns, left) == {"*.log": 2, "scratch/": 1, "nothing/": 0}
    for bad in ("", "  ", "# a comment"):
        with pytest.raises(OptionError, match="an empty pattern or a comment"):
            ExcludePatterns((bad,)).check()


def test_stored_paths_are_relative_to_the_table_folder_when_all_are_under_it(tmp_path) -> None:
    table = tmp_path / "study"
    urls = [str(table / "sub-01/t1.nii.gz"), str(table / "./sub-02/../sub-02/t1.nii.gz")]
    assert list(stored_paths(str(table), urls).values()) == ["sub-01/t1.nii.gz", "sub-02/t1.nii.gz"]


def test_else_relative_to_the_nearest_folder_that_holds_them_all(tmp_path) -> None:
    home = tmp_path / "home" / "jsmith"
    urls = [str(home / "scans/a/t1.nii.gz"), str(home / "scans/b/t1.nii.gz")]
    stored = stored_paths(str(tmp_path / "tables"), urls)
    assert list(stored.values()) == ["a/t1.nii.gz", "b/t1.nii.gz"]
    one = stored_paths(str(tmp_path / "tables"), [str(home / "scans/a/t1.nii.gz")])
    assert list(one.values()) == ["t1.nii.gz"]


def test_a_home_folder_and_remote_files_are_never_in_a_stored_path(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    stored = stored_paths("/elsewhere", ["~/scans/t1.nii.gz", "~/scans/t2.nii.gz"])
    assert list(stored.values()) == ["t1.nii.gz", "t2.nii.gz"]
    remote = stored_paths("s3://bucket/tables", ["s3://bucket/ds/a.nii.gz", "s3://bucket/b.nii.gz"])
    assert list(remote.values()) == ["ds/a.nii.gz", "b.nii.gz"]
    mixed = stored_paths("/tables", ["s3://bucket/ds/a.nii.gz", "/data/b.nii.gz"])
    assert list(mixed.values()) == ["bucket/ds/a.nii.gz", "data/b.nii.gz"]  # no scheme, no /
    for path in [*stored.values(), *remote.values(), *mixed.values()]:
        assert not path.startswith(("/", "~")) and ".." not in path.split("/") and ":" not in path


def test_two_files_stored_under_one_path_are_refused() -> None:
    with pytest.raises(InputError, match=r"would be stored as 'x/a\.nii\.gz'"):
        stored_paths("/t", ["s3://x/a.nii.gz", "/x/a.nii.gz"])


def test_a_name_that_is_not_utf8_is_stored_as_read_in_latin1(tmp_path: Path) -> None:
    raw = os.fsdecode(os.fsencode(str(tmp_path)) + b"/Z\xfcrich.nii.gz")
    assert list(stored_paths(str(tmp_path), [raw]).values()) == ["Zürich.nii.gz"]


def _problems(paths: list[str], message: str = "excluded by --exclude 'x'") -> list[Problem]:
    return [Problem(p, message, "info") for p in paths]


def test_a_short_list_is_each_file_and_a_long_one_folders_as_deep_as_fit() -> None:
    few = _problems(["a/b.txt", "c.txt"])
    assert [(g.label, g.files) for g in group_by_folder(few)] == [("a/b.txt", 1), ("c.txt", 1)]
    many = _problems([f"sub-{s:02d}/ses-1/anat/f{i}.nii" for s in range(6) for i in range(5)])
    groups = group_by_folder(many)
    assert [(g.label, g.files) for g in groups] == [
        (f"sub-{s:02d}/ses-1/anat/", 5) for s in range(6)
    ]
    wide = _problems([f"sub-{s:03d}/anat/f{i}.nii" for s in range(40) for i in range(2)])
    groups = group_by_folder(wide)  # 40 folders at any depth: the largest, then the rest
    assert len(groups) == MAX_LINES - 1 and groups[-1].label == "22 more folders"
    assert sum(g.files for g in groups) == 80


def test_the_three_lists_are_apart_and_short() -> None:
    left = [
        *_problems([f"sub-{s:02d}/anat/x.nii" for s in range(30)], "filtered out: subject"),
        *_problems([f"stimuli/f{i}.png" for i in range(100)], "excluded by --exclude 'stimuli/'"),
        Problem("sub-01/anat/broken.nii.gz", "cannot read: permission denied"),
    ]
    lists = LeftOutLists.of(left)
    lines = lists.terminal_lines("--subject 01", ("stimuli/", "*.log"))
    assert lines[0] == "filtered out by --subject 01: 30 files"
    assert "excluded: 100 files (--exclude 'stimuli/' 100, --exclude '*.log' 0)" in lines
    assert lines[-1] == "left out: sub-01/anat/broken.nii.gz: cannot read: permission denied"
    assert len(lines) <= 3 * MAX_LINES
