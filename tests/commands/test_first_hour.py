"""A newcomer's first hour (issue 13), through the command line: no failure that surprises,
misleads or destroys. Each test runs the real program and checks what the user sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from factories import subject_table


def run(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nifti2parquet", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        **kw,
    )


def test_demo_never_writes_into_a_folder_of_other_files(tmp_path: Path) -> None:
    """Item 1: `echo x > README.md; nifti2parquet demo .` keeps the user's README."""
    (tmp_path / "README.md").write_text("x\n")
    result = run("demo", ".", "-q", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path}: folder is not empty and was not made by nifti2parquet; "
        "choose a new or empty folder"
    ]
    assert (tmp_path / "README.md").read_text() == "x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_a_missing_source_creates_nothing(tmp_path: Path) -> None:
    """Item 4: no OUTPUT_DIR, lock or temp folder before the source is found."""
    for source in ("nope.csv", "no-such-folder"):
        result = run("build", str(tmp_path / source), str(tmp_path / "out"))
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1 and "no such file" in result.stderr
        assert not (tmp_path / "out").exists()


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """Item 6: `nifti2parquet demo DIR -q | head -2` prints two lines and no error."""
    command = f"{sys.executable} -m nifti2parquet demo {tmp_path / 'demo'} -q | head -2"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"], capture_output=True, text=True, timeout=300
    )
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`


def test_verify_of_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Item 13: a user error, said once."""
    result = run("verify", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'nope'}: no such folder"]
    assert result.stdout == ""


def test_build_still_accepts_its_own_folder(tmp_path: Path) -> None:
    data = subject_table(tmp_path, subjects=2)
    for _ in range(2):
        result = run("build", str(data.table), str(tmp_path / "out"), "-q")
        assert result.returncode == 0, result.stderr
