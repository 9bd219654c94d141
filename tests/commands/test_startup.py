"""The command starts fast: it never loads pandas, which pyarrow would import for nothing.

Only nifti2parquet's own processes decide that; importing the package leaves pandas alone.
"""

from __future__ import annotations

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
