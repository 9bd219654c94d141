"""A newcomer's first hour, through the command line: no failure that surprises,
misleads or destroys. Each test runs the real program and checks what the user sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from commands.test_cli import run  # tests/commands (tests/ is on the path)
from factories import subject_table


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


def test_the_demos_next_steps_run_as_printed(tmp_path: Path) -> None:
    """Item 12: with the venv's bin/ not on PATH (the README's set-up), every printed command
    runs as printed (the push needs a token and the Hub: its --dry-run form is checked in
    tests/hub/test_push_unreachable.py)."""
    script = Path(sys.executable).with_name("nifti2parquet")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(script), "demo", str(tmp_path / "demo"), "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line.strip() for line in lines if line.startswith("  ")]
    load = next(s for s in steps if "load_dataset" in s)
    check = next(s for s in steps if " verify " in s)
    push = next(s for s in steps if " push " in s)
    assert load.startswith(f"{sys.executable} -c ") or load.startswith(
        f"{Path(sys.executable).parent}/"
    )
    assert check.startswith(f"{script} verify ") and push.startswith(f"{script} push ")
    login = next(line for line in lines if "auth login" in line)  # the hint, too
    assert f"{Path(sys.executable).with_name('hf')} auth login" in login
    for step in (load, check):
        ran = subprocess.run(
            ["bash", "-c", step], capture_output=True, text=True, env=env, timeout=300
        )
        assert ran.returncode == 0, (step, ran.stderr[-2000:])
    assert any("README.md" in line for line in lines)


def test_the_summary_says_what_was_written_and_what_left_out(tmp_path: Path) -> None:
    """Item 14: "4 images + 1 other file of 7 files written (2 left out)", never "found" for files
    that are not (the other file is the table itself, in the files config)."""
    data = subject_table(tmp_path, subjects=3)
    text = data.table.read_text().replace("sub-02_T1w", "gone").replace("sub-03_T1w", "absent")
    data.table.write_text(text)
    result = run("build", str(data.table), str(tmp_path / "out"), "-q", "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    assert ": 3 rows, 4 images + 1 other file of 7 files written (2 left out), " in result.stdout


def test_a_parts_summary_counts_its_own_shards(tmp_path: Path) -> None:
    """Item 14: a part says its own rows, images and bytes, not the whole dataset's."""
    data = subject_table(tmp_path, subjects=4, sizes=(30_000,))
    out = tmp_path / "out"
    args = ["build", str(data.table), str(out), "--max-shard-size", "40KB", "--json", "-q"]
    whole = json.loads(run(*args, "--plan-only").stdout)
    part = json.loads(run(*args, "--part", "0/2").stdout)
    assert part["num_shards"] == 2 and part["plan_shards"] == whole["num_shards"] == 4
    assert part["num_rows"] == 2 and part["image_bytes"] < whole["image_bytes"]
    assert "in 2 shards of the plan's 4" in part["summary"]


def test_singular_and_plural(tmp_path: Path) -> None:
    """Item 14: "1 row group", "1 image", never "1 row groups" or "shard(s)"."""
    data = subject_table(tmp_path, subjects=1)
    result = run("inspect", str(data.table))
    assert result.returncode == 0, result.stderr
    assert (
        "\n1 row, 3 images, " in result.stdout and "1 row, 1 row group, 3 images" in result.stdout
    )
    assert "(s)" not in result.stdout and " 1 row groups" not in result.stdout


def test_a_tsv_separated_by_commas_gets_a_hint(tmp_path: Path) -> None:
    """Item 14: not "missing file (row 1, column subject,t1)"."""
    (tmp_path / "t.tsv").write_text("subject,t1\ns1,a.nii\n")
    result = run("build", str(tmp_path / "t.tsv"), str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 't.tsv'}: the header row has no tabs but has commas: the table "
        "seems separated by commas; name it .csv (or separate it with tabs)"
    ]
