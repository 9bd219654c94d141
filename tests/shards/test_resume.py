"""A killed build, run again with the same command, ends byte-identical to an uninterrupted one.

The build runs as a real process and is SIGKILLed at many points spread across the run, some while
a shard is half-written. After every kill: nothing named like a shard is incomplete, and no card
exists for shards that are not there. After the final resume: the output equals a clean build's,
and no temp files remain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from factories import build_options, padded_nifti, subject_table, tree_bytes, write_table

from nifti2parquet import build

SHARD = "60KB"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 rows of ~20-40 KB images: ~20 shards at 60 KB, built in a couple of seconds."""
    root = tmp_path_factory.mktemp("resume-src")
    rows = []
    for i in range(24):
        path = padded_nifti(root / "img" / f"sub-{i:02d}_T1w.nii.gz", 20_000 + 800 * i, seed=i)
        rows.append({"subject_id": f"sub-{i:02d}", "t1w": f"img/{path.name}", "age": 30 + i})
    write_table(root / "t.csv", rows)
    return root / "t.csv"


@pytest.fixture(scope="module")
def clean(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("clean") / "out"
    build(
        str(source),
        str(out),
        build_options(max_shard_size=60_000, row_group_size=30_000, workers=1),
    )
    files = tree_bytes(out)
    assert len([f for f in files if f.startswith("data/")]) >= 15
    return files


def start(source: Path, out: Path, workers: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nifti2parquet",
            "build",
            str(source),
            str(out),
            "--max-shard-size",
            SHARD,
            "--row-group-size",
            "30KB",
            "--workers",
            str(workers),
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_when(process: subprocess.Popen, out: Path, markers: int, mid_shard: bool) -> bool:
    """SIGKILL once ``markers`` shards are finished (and, if asked, a shard is half-written)."""
    marker_dir = out / ".nifti2parquet" / "train" / "markers"
    tmp_dir = out / ".nifti2parquet" / "tmp"
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        done = len(list(marker_dir.glob("*.json"))) if marker_dir.exists() else 0
        partial = tmp_dir.exists() and any(p.name.endswith(".partial") for p in tmp_dir.iterdir())
        if done >= markers and (partial or not mid_shard):
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.0005)
    process.wait()
    return False


def assert_nothing_half_written_looks_complete(out: Path, clean: dict[str, bytes]) -> None:
    files = tree_bytes(out)
    for name, data in files.items():
        if name.startswith("data/"):
            assert data == clean[name], f"{name} is named like a shard but is not the finished one"
    if "README.md" in files:
        assert files == clean, "a card exists, so every shard it promises must be there"


# kill points: (shards finished before the kill, kill while a shard is half-written)
KILL_POINTS = [
    (0, False),
    (0, True),
    (1, True),
    (2, False),
    (3, True),
    (5, True),
    (7, False),
    (9, True),
    (12, True),
    (14, False),
    (16, True),
    (18, True),
]


def test_killed_at_many_points_then_resumed_is_identical(
    source: Path, clean: dict[str, bytes], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    kills = 0
    for markers, mid_shard in KILL_POINTS:
        if kill_when(start(source, out), out, markers, mid_shard):
            kills += 1
            assert_nothing_half_written_looks_complete(out, clean)
    assert kills >= 10, f"only {kills} kills landed before the build finished"
    final = start(source, out)
    assert final.wait(timeout=120) == 0, final.stderr.read().decode()
    assert tree_bytes(out) == clean
    assert not any((out / ".nifti2parquet" / "tmp").iterdir()), "stale temp files remain"


def test_killed_parallel_build_resumes_identically(
    source: Path, clean: dict[str, bytes], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for markers in (2, 6, 11):
        kill_when(start(source, out, workers=2), out, markers, mid_shard=True)
        assert_nothing_half_written_looks_complete(out, clean)
    assert start(source, out, workers=2).wait(timeout=120) == 0
    assert tree_bytes(out) == clean


def test_resume_reuses_finished_shards(
    source: Path, clean: dict[str, bytes], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    options = build_options(max_shard_size=60_000, row_group_size=30_000, workers=1)
    first = build(str(source), str(out), options)
    again = build(str(source), str(out), options)
    assert (again.shards_written, again.shards_reused) == (0, first.num_shards)
    assert tree_bytes(out) == clean


def test_a_tampered_shard_is_rebuilt(source: Path, clean: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = build_options(max_shard_size=60_000, row_group_size=30_000, workers=1)
    build(str(source), str(out), options)
    shard = sorted((out / "data").iterdir())[3]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    again = build(str(source), str(out), options)
    assert again.shards_written == 1
    assert tree_bytes(out) == clean


def test_changed_input_after_a_kill_rebuilds_its_shard(tmp_path: Path) -> None:
    data = subject_table(tmp_path / "src", subjects=8, runs=[1] * 8)
    out = tmp_path / "out"
    options = build_options(max_shard_size=20_000, row_group_size=8_000, workers=1)
    first = build(str(data.table), str(out), options)
    assert first.num_shards >= 4
    (out / "README.md").unlink()  # as if killed before the card was written
    changed = data.table.parent / data.rows[5]["t1w"]
    padded_nifti(changed, 3_000, seed=999)  # same name, new content
    second = build(str(data.table), str(out), options)
    assert second.shards_written >= 1 and second.shards_reused >= first.num_shards - 3
    reference = tmp_path / "reference"
    build(str(data.table), str(reference), options)
    assert tree_bytes(out) == tree_bytes(reference)  # never a mix of old and new


def test_changed_options_rebuild_everything_and_leave_no_stale_shards(
    source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    build(
        str(source),
        str(out),
        build_options(max_shard_size=60_000, row_group_size=30_000, workers=1),
    )
    result = build(str(source), str(out), build_options(max_shard_size=120_000, workers=1))
    reference = tmp_path / "reference"
    build(str(source), str(reference), build_options(max_shard_size=120_000, workers=1))
    assert result.shards_reused == 0
    assert tree_bytes(out) == tree_bytes(reference)


def test_second_build_into_the_same_folder_is_refused_while_one_runs(
    source: Path, tmp_path: Path
) -> None:
    """While a build holds the folder (here: its lock, held by the test), another is refused."""
    import fcntl

    out = tmp_path / "out"
    build(str(source), str(out), build_options(max_shard_size=60_000, workers=1))
    with open(out / ".nifti2parquet" / "build-train.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = subprocess.run(
            [sys.executable, "-m", "nifti2parquet", "build", str(source), str(out)],
            capture_output=True,
            text=True,
        )
    assert second.returncode == 2
    assert "another nifti2parquet build is writing into this folder" in second.stderr
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "nifti2parquet",
            "build",
            str(source),
            str(out),
            "--max-shard-size",
            "60KB",
        ],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr  # released: the next build runs
