"""Array-job parts: ``--part I/N`` runs, then ``--finalize``, equal a single-machine build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from factories import subject_table, tree_bytes

from nifti2parquet import BuildOptions, build
from nifti2parquet.common.errors import OptionError, OutputError

OPTIONS = dict(max_shard_size=20_000, row_group_size=8_000, workers=1)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return subject_table(
        tmp_path_factory.mktemp("parts"), subjects=9, runs=[1, 2, 0, 1, 3, 1, 0, 2, 1]
    ).table


@pytest.fixture(scope="module")
def single(table: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("single") / "out"
    result = build(str(table), str(out), BuildOptions(**OPTIONS))
    assert result.num_shards >= 6
    return tree_bytes(out)


def test_parts_then_finalize_equal_a_single_build(
    table: Path, single: dict, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shards = 0
    for index in range(3):
        result = build(str(table), str(out), BuildOptions(**OPTIONS, part=(index, 3)))
        assert result.status == "part-built" and not (out / "README.md").exists()
        shards += result.num_shards
    final = build(str(table), str(out), BuildOptions(**OPTIONS, finalize=True))
    assert final.status == "built" and final.shards_written == 0
    assert shards == final.num_shards
    assert tree_bytes(out) == single


def test_finalize_refuses_while_a_part_is_missing(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(str(table), str(out), BuildOptions(**OPTIONS, part=(0, 3)))
    build(str(table), str(out), BuildOptions(**OPTIONS, part=(2, 3)))
    with pytest.raises(OutputError, match=r"parts not finished: 1/3") as error:
        build(str(table), str(out), BuildOptions(**OPTIONS, finalize=True))
    missing = {p.path for p in error.value.problems}
    assert missing and all(name.startswith("data/train-") for name in missing)
    assert not (out / "README.md").exists()
    assert not (out / ".nifti2parquet" / "train" / "manifest.json").exists()


def test_parts_with_one_based_ids_from_the_cli(table: Path, single: dict, tmp_path: Path) -> None:
    """As ``--array=1-3`` with ``--part $SLURM_ARRAY_TASK_ID/3 --part-base 1``, 2 workers each."""
    out = tmp_path / "out"
    common = [
        str(table),
        str(out),
        "--max-shard-size",
        "20KB",
        "--row-group-size",
        "8KB",
        "--quiet",
    ]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nifti2parquet",
                "build",
                *common,
                "--part",
                f"{i}/3",
                "--part-base",
                "1",
                "--workers",
                "2",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2, 3)
    ]
    for p in procs:  # the three parts run at the same time, as array tasks do
        assert p.wait(timeout=120) == 0, p.stderr.read()
    done = subprocess.run(
        [sys.executable, "-m", "nifti2parquet", "build", *common, "--finalize"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert tree_bytes(out) == single


def test_part_out_of_range_is_refused(table: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="part 3 is not between 0 and 2"):
        build(str(table), str(tmp_path / "out"), BuildOptions(**OPTIONS, part=(3, 3)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nifti2parquet",
            "build",
            str(table),
            str(tmp_path / "out"),
            "--part",
            "0/3",
            "--part-base",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--part 0/3: I must be between 1 and 3 (--part-base 1)" in result.stderr


def test_parts_use_the_saved_plan_and_do_not_read_the_source(
    table: Path, single: dict, tmp_path: Path
) -> None:
    """--plan-only reads and checks the source once; parts then only read the images."""
    out = tmp_path / "out"
    planned = build(str(table), str(out), BuildOptions(**OPTIONS, plan_only=True))
    assert planned.status == "planned" and not (out / "data").exists()
    hidden = table.with_name("table-hidden.csv")
    table.rename(hidden)  # the parts cannot read the table: they must use the saved plan
    try:
        for index in range(3):
            assert (
                build(str(table), str(out), BuildOptions(**OPTIONS, part=(index, 3))).status
                == "part-built"
            )
    finally:
        hidden.rename(table)
    build(str(table), str(out), BuildOptions(**OPTIONS, finalize=True))
    assert tree_bytes(out) == single


def test_a_part_with_other_options_than_the_saved_plan_is_refused(
    table: Path, tmp_path: Path
) -> None:
    """Issue 13, item 3: `--plan-only --max-shard-size 30KB`, then `--part 1/2` without it (and
    `--finalize` without it) each refuse, naming the option, and build nothing."""
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "nifti2parquet", "build", str(table), str(out), "-q"]
    sizes = ["--max-shard-size", "30KB", "--row-group-size", "8KB", "--workers", "1"]
    planned = subprocess.run([*cli, *sizes, "--plan-only"], capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr
    for run in (["--part", "1/2", "--part-base", "1"], ["--finalize"]):
        result = subprocess.run([*cli, *run], capture_output=True, text=True)
        assert result.returncode == 2
        [line] = result.stderr.splitlines()
        what = "part 1 of 2" if "--part" in run else "--finalize"
        assert line.startswith(
            f"error: {what}: options differ from the plan saved by --plan-only: "
            "--max-shard-size 30.0 KB there, 500.0 MB here; --row-group-size 8.0 KB there, "
            "100.0 MB here"
        )
        assert not (out / "data").exists()
    done = subprocess.run([*cli, *sizes, "--part", "0/2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # a part run without --plan-only is held to the parts already built, too
    plan = out / ".nifti2parquet" / "train" / "plan-options.json"
    plan.unlink()
    other = subprocess.run([*cli, "--part", "1/2"], capture_output=True, text=True)
    assert other.returncode == 2
    assert "options differ from part 1 of 2 (already built): --max-shard-size" in other.stderr
