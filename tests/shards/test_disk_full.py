"""Disk full while writing: reported in one clear line, and resumable once space is freed.

A real full filesystem: a small tmpfs mounted inside a private mount namespace (``unshare``, so no
root is needed where user namespaces are allowed). The build fails with ENOSPC partway, leaves only
complete shards, and finishes byte-identical to a clean build after the filesystem is enlarged.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from factories import build_options, padded_nifti, tree_bytes, write_table

from nifti2parquet import build


def namespace_runner() -> list[str] | None:
    """A command prefix that gives a private mount namespace where we may mount a tmpfs."""
    for prefix in (["unshare", "-rm"], ["unshare", "-m"]):
        if shutil.which(prefix[0]) is None:
            continue
        probe = subprocess.run(
            [*prefix, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True
        )
        if probe.returncode == 0:
            return prefix
    return None


RUNNER = namespace_runner()


@pytest.mark.skipif(RUNNER is None, reason="no way to mount a small filesystem on this machine")
def test_disk_full_is_clear_and_resumable(tmp_path: Path) -> None:
    rows = []
    for i in range(12):
        image = padded_nifti(tmp_path / "src" / f"sub-{i:02d}_T1w.nii.gz", 40_000, seed=i)
        rows.append({"subject_id": f"sub-{i:02d}", "t1w": image.name})
    write_table(tmp_path / "src" / "t.csv", rows)
    reference = tmp_path / "reference"
    build(
        str(tmp_path / "src" / "t.csv"),
        str(reference),
        build_options(max_shard_size=100_000, workers=1),
    )
    mount, result = tmp_path / "small", tmp_path / "result"
    mount.mkdir()
    command = (
        f"{sys.executable} -m nifti2parquet build {tmp_path / 'src' / 't.csv'} {mount / 'out'}"
        f" --max-shard-size 100KB --workers 1 --quiet"
    )
    script = textwrap.dedent(f"""
        mount -t tmpfs -o size=300k tmpfs {mount}
        {command} 2> {tmp_path / "first.err"}; echo $? > {tmp_path / "first.rc"}
        ls {mount / "out" / "data"} > {tmp_path / "first.ls"} 2>/dev/null
        cp -r {mount / "out"} {tmp_path / "after-full"}
        mount -o remount,size=20m {mount}
        {command} 2> {tmp_path / "second.err"}; echo $? > {tmp_path / "second.rc"}
        cp -r {mount / "out"} {result}
    """)
    subprocess.run([*RUNNER, "sh", "-c", script], check=True, timeout=300)
    error = (tmp_path / "first.err").read_text().strip().splitlines()
    assert (tmp_path / "first.rc").read_text().strip() == "2"
    assert len(error) == 1 and error[0].startswith("error: ")
    assert "disk full; free some space and run the same command again" in error[0]
    partial = tree_bytes(tmp_path / "after-full")
    finished = {n: d for n, d in partial.items() if n.startswith("data/")}
    assert 0 < len(finished) < len([n for n in tree_bytes(reference) if n.startswith("data/")])
    assert all(d == tree_bytes(reference)[n] for n, d in finished.items())  # only whole shards
    assert "README.md" not in partial
    assert (tmp_path / "second.rc").read_text().strip() == "0", (
        tmp_path / "second.err"
    ).read_text()
    assert tree_bytes(result) == tree_bytes(reference)
