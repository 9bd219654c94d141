"""The command starts fast: it never loads pandas, which pyarrow would import for nothing, nor,
for an export or a build without previews, numpy; ``--help`` loads no library but click.

Only nifti2parquet's own processes decide that; importing the package (or calling the command
line's ``main`` from another program) leaves pandas and numpy alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from factories import write_nifti


def test_the_command_builds_and_verifies_without_loading_pandas(tmp_path: Path) -> None:
    write_nifti(tmp_path / "a.nii.gz", seed=1)
    (tmp_path / "t.csv").write_text("id,t1w\n1,a.nii.gz\n")
    out = tmp_path / "out"
    checked = 0
    for args in (["build", str(tmp_path / "t.csv"), str(out)], ["verify", str(out)]):
        command = [sys.executable, "-X", "importtime", "-m", "nifti2parquet", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
        assert "pyarrow" in imported  # the check would see pandas if it were loaded
        # a refused import is listed too (as plain "pandas"); loading it brings its submodules
        assert not [name for name in imported if name.startswith("pandas.")]
        # the BIDS schema is loaded only when a BIDS dataset is read
        assert not [name for name in imported if name.startswith("bidsschematools")]
        checked += 1
    assert checked == 2


def test_export_never_loads_numpy_and_gives_the_files_back(tmp_path: Path) -> None:
    """An export reads footers, small columns and bytes: pyarrow loads without numpy (0.1 s of
    CPU saved on every export), and the files come back all the same."""
    write_nifti(tmp_path / "a.nii.gz", seed=1)
    (tmp_path / "t.csv").write_text("id,t1w\n1,a.nii.gz\n")
    out, dest = tmp_path / "out", tmp_path / "dest"
    build = [sys.executable, "-m", "nifti2parquet", "build", str(tmp_path / "t.csv"), str(out)]
    assert subprocess.run(build, capture_output=True, timeout=300).returncode == 0
    command = [sys.executable, "-X", "importtime", "-m", "nifti2parquet", "export", str(out)]
    result = subprocess.run([*command, str(dest)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "pyarrow" in imported and not [n for n in imported if n.startswith("numpy.")]
    assert (dest / "a.nii.gz").read_bytes() == (tmp_path / "a.nii.gz").read_bytes()
    assert (dest / "t.csv").read_bytes() == (tmp_path / "t.csv").read_bytes()


def test_a_build_without_previews_never_loads_numpy_and_verifies(tmp_path: Path) -> None:
    """Without previews a build converts no array: pyarrow loads without numpy (0.08 s of CPU
    saved before the first shard), a row without an image is still a null cell, and the content
    checks (another process) find every image where the build put it."""
    for name, seed in (("a1", 1), ("a2", 2), ("b1", 3)):
        write_nifti(tmp_path / f"{name}.nii.gz", seed=seed)
    (tmp_path / "t.csv").write_text("id,t1w,t2w\n1,a1.nii.gz,b1.nii.gz\n2,a2.nii.gz,\n")
    out = tmp_path / "out"
    build = ["build", str(tmp_path / "t.csv"), str(out), "--no-previews"]
    command = [sys.executable, "-X", "importtime", "-m", "nifti2parquet", *build]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    # a refused import is listed too (as plain "numpy"); loading it brings its submodules
    assert "pyarrow" in imported and not [n for n in imported if n.startswith("numpy.")]
    verify = [sys.executable, "-m", "nifti2parquet", "verify", str(out)]
    checked = subprocess.run(verify, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr[-2000:]
    assert "2 rows, 3 images" in checked.stdout and "OK" in checked.stdout


def test_importing_the_package_leaves_pandas_importable() -> None:
    code = (
        "import nifti2parquet, nifti2parquet.commands.build, nifti2parquet.commands.cli\n"
        "import pyarrow as pa\n"
        "pa.array(['a'])\n"
        "import pandas\n"
        "print(pandas.__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "pandas", result.stderr


HEAVY = ("pyarrow", "numpy", "nifti2parquet.sources", "nifti2parquet.shards", "huggingface_hub")


def test_help_loads_no_library_and_no_stage_but_the_command_line() -> None:
    """``--help`` of the program and of each command is click and the options' words: the
    defaults it shows come from a module that imports nothing, and each command imports its
    implementation only when it runs."""
    checked = 0
    for args in ([], ["build"], ["inspect"], ["verify"], ["export"], ["push"], ["demo"]):
        command = [sys.executable, "-X", "importtime", "-m", "nifti2parquet", *args, "--help"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Usage: nifti2parquet" in result.stdout
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
        assert "click" in imported  # the check sees what was imported
        loaded = sorted(name for name in imported if name.startswith(HEAVY))
        assert not loaded, f"{' '.join(args)} --help imported {loaded[:5]}"
        checked += 1
    assert checked == 7


_BLAS_THREADS = """
import os, sys
if sys.argv[1] == "program":
    from nifti2parquet.common.startup import one_blas_thread
    one_blas_thread()
else:
    import nifti2parquet.commands.cli  # noqa: F401  (a host importing the package)
import numpy  # noqa: F401
print(os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task")))
"""


def test_the_program_gives_numpy_one_blas_thread_and_a_host_keeps_its_own() -> None:
    def threads(who: str, env: dict[str, str]) -> list[str]:
        command = [sys.executable, "-c", _BLAS_THREADS, who]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.split()

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert threads("program", env) == ["1", "1"]  # numpy loaded, and no BLAS thread started
    assert threads("host", env)[0] == "None"  # importing the package changes nothing
    assert threads("program", {**env, "OPENBLAS_NUM_THREADS": "2"})[0] == "2"  # the user's
