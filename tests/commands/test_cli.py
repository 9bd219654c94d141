"""The command line as users run it: real processes, exit codes, one-line errors, --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from factories import subject_table, write_nifti


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nifti2parquet", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_help_and_version() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("build", "demo"):
        assert command in result.stdout
    assert run("--version").stdout.startswith("nifti2parquet")


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("nifti2parquet")
    result = subprocess.run([str(script), "build", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--max-shard-size" in result.stdout


def test_build_json_summary(tmp_path: Path) -> None:
    data = subject_table(tmp_path, subjects=3, runs=[1, 0, 2], missing_t1w=[2])
    result = run(
        "build", str(data.table), str(tmp_path / "out"), "--json", "--max-shard-size", "30KB"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["num_rows"] == 3
    assert summary["files_found"] == summary["files_written"] + 1 == 6  # and the table itself
    assert summary["other_files"] == 1
    assert summary["files_left_out"] == 0
    assert summary["verify"]["ok"] is True
    assert summary["num_shards"] == len(list((tmp_path / "out" / "data").iterdir()))
    assert result.stderr == ""  # stderr is not a terminal: no progress bars


def test_one_clear_line_for_a_missing_source(tmp_path: Path) -> None:
    result = run("build", str(tmp_path / "nope.csv"), str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.csv'}: no such file"]


def test_one_clear_line_for_a_bad_image(tmp_path: Path) -> None:
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    write_nifti(tmp_path / "ok.nii.gz")
    (tmp_path / "t.csv").write_text("scan\nempty.nii.gz\nok.nii.gz\n")
    result = run("build", str(tmp_path / "t.csv"), str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: empty.nii.gz: empty file (0 bytes)")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "data").exists()


def test_skip_mode_reports_what_it_left_out(tmp_path: Path) -> None:
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    write_nifti(tmp_path / "ok.nii.gz")
    (tmp_path / "t.csv").write_text("scan\nempty.nii.gz\nok.nii.gz\n")
    result = run("build", str(tmp_path / "t.csv"), str(tmp_path / "out"), "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    assert "left out: empty.nii.gz: empty file (0 bytes)" in result.stderr
    assert "1 image + 1 other file of 3 files written (1 left out)" in result.stdout


def test_bad_option_values_are_explained(tmp_path: Path) -> None:
    result = run("build", "t.csv", "out", "--max-shard-size", "lots")
    assert result.returncode == 2 and "not a byte size: 'lots'" in result.stderr
    result = run("build", "t.csv", "out", "--part", "3")
    assert result.returncode == 2 and "write I/N" in result.stderr


def test_demo_runs_and_says_how_to_push(tmp_path: Path) -> None:
    result = run("demo", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout and "OK" in result.stdout
    assert f"nifti2parquet push {tmp_path / 'demo'}" in result.stdout
    again = run("demo", str(tmp_path / "demo"))  # running it twice reuses what is there
    assert again.returncode == 0 and "0 written, 1 reused" in again.stdout


def test_demo_needs_nothing_beyond_the_runtime_dependencies(tmp_path: Path) -> None:
    """A plain `pip install .` has no pytest (nibabel.testing would need it)."""
    code = (
        "import sys; sys.modules['pytest'] = None; from nifti2parquet.commands.cli import main; "
        f"main(['demo', {str(tmp_path / 'demo')!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout
