"""A segmentation dataset pushed to the local Hub server and exported back, as nnU-Net users do.

What a user checks: after ``push``, ``export REPO_ID DEST --split train`` and ``--split test``
into one DEST give the nnU-Net folder back byte for byte (``dataset.json``, ``splits_final.json``,
``imagesTr/``, ``labelsTr/``, ``imagesTs/``, ``labelsTs/``); ``--case`` exports exactly that
case's files (and the dataset's own files), reading from the Hub only their pages, plus at most
1 MB per shard of footers and small columns; the card on the Hub carries the label map.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import build_options, tree_bytes
from hubserver import HubServer
from pushtools import ok, run_push
from segmentation_factory import SegmentationFolder, nnunet_folder

from nifti2parquet import build
from nifti2parquet.retrieval.catalog import read_catalog
from nifti2parquet.retrieval.ranges import LocalStore, RequestCounter

pytest_plugins = ["conftest_hub"]

REPO = "user/prostate"
MB = 1 << 20


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[SegmentationFolder, Path]:
    """Both splits, in shards small enough that a case's files are a few of many pages."""
    root = tmp_path_factory.mktemp("hub-segmentation")
    cases = tuple(f"prostate_{i:02d}" for i in range(12))
    folder = nnunet_folder(
        root / "Dataset005_Prostate",
        train=cases,
        test=("prostate_20", "prostate_21"),
        missing_channel=None,
        test_labels=("prostate_20",),
    )
    for split in ("train", "test"):
        options = build_options(split=split, max_shard_size=30_000, row_group_size=8_000)
        build(str(folder.root), str(root / "out"), options)
    return folder, root / "out"


def run_export(env: dict[str, str], *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "nifti2parquet", "export", *args, "--json"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"export failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def range_reads(server: HubServer) -> list[tuple[str, int, int]]:
    """(path, first byte, last byte) of every GET of a file of REPO, each a range read."""
    prefix = f"/datasets/{REPO}/resolve/"
    found = []
    for r in server.requests:
        if r.method == "GET" and r.path.startswith(prefix):
            assert r.range is not None, f"whole-file download of {r.path}"
            first, _, last = r.range.removeprefix("bytes=").partition("-")
            found.append((r.path[len(prefix) :].partition("/")[2], int(first), int(last)))
    return found


def test_the_nnunet_folder_comes_back_from_the_hub_byte_for_byte(
    built: tuple[SegmentationFolder, Path],
    hub_server: HubServer,
    hub_env: dict[str, str],
    tmp_path: Path,
) -> None:
    folder, out = built
    ok(run_push(hub_env, out, REPO))
    dest = tmp_path / "Dataset005_Prostate"
    for split in ("train", "test"):
        run_export(hub_env, REPO, str(dest), "--split", split)
    assert tree_bytes(dest) == tree_bytes(folder.root)
    card = hub_server.read_file(REPO, "README.md").decode()
    header = yaml.safe_load(card.split("---")[1])
    assert header["labels"] == {"background": 0, "PZ": 1, "TZ": 2, "prostate": [1, 2]}


def test_one_case_reads_only_its_pages_and_the_small_columns(
    built: tuple[SegmentationFolder, Path],
    hub_server: HubServer,
    hub_env: dict[str, str],
    tmp_path: Path,
) -> None:
    folder, out = built
    ok(run_push(hub_env, out, REPO))
    hub_server.clear_log()
    dest = tmp_path / "one"
    result = run_export(hub_env, REPO, str(dest), "--split", "train", "--case", "prostate_07")

    case = [
        "imagesTr/prostate_07_0000.nii.gz",
        "imagesTr/prostate_07_0001.nii.gz",
        "labelsTr/prostate_07.nii.gz",
    ]
    assert sorted(tree_bytes(dest)) == sorted([*case, *folder.others])
    files = {f.path: f for f in read_catalog(LocalStore(str(out)), "train", RequestCounter()).files}
    pages = defaultdict(list)  # shard -> (start, end, path) of each file's page
    for file in files.values():
        page = file.location.leaf.page_of(file.location.row)
        pages[file.location.shard].append((page.offset, page.offset + page.size, file.path))
    reads = range_reads(hub_server)
    hit = {
        path
        for shard, first, last in reads
        for start, end, path in pages[shard]
        if first < end and last >= start
    }
    selected = {*case, *folder.others}
    assert selected <= hit  # their pages (and bytes of others' only within the budget below)
    served: dict[str, int] = defaultdict(int)
    for shard, first, last in reads:
        served[shard] += last - first + 1
    wanted: dict[str, int] = defaultdict(int)
    for path in selected:
        wanted[files[path].location.shard] += files[path].size
    shards = [p for p in hub_server.repo_files(REPO) if p.endswith(".parquet")]
    train_shards = [p for p in shards if p.rsplit("/", 1)[-1].startswith("train-")]
    holding = {files[path].location.shard for path in selected}
    assert len(train_shards) > 4 and holding <= set(served) <= set(train_shards)
    assert result["shards_indexed"] == len(served) and result["shards_total"] == len(train_shards)
    for shard, sent in served.items():
        assert sent <= wanted[shard] + MB, shard
    assert result["bytes_fetched"] == sum(served.values())
