"""``export REPO_ID`` against the local Hub server, with the real ``huggingface_hub`` client.

What a user checks: after ``push``, ``export REPO_ID`` gives the source tree back byte for byte,
for every row layout, from shards stored with Xet (the Hub's default) and with Git LFS;
``--revision`` is the version exported, every read pinned to its commit; a one-subject export
reads, from the shards holding that subject's files, only those files' pages (plus footers and
small columns, at most 1 MB per shard) and from every other shard only its footer and small
columns, never a whole shard; an export killed midway and run again finishes byte-identical
without fetching again any file that was complete; a read the Hub refuses is one line and exit
4, and a re-run finishes; a table source comes back with its table; the lazy reader fetches the
page of the image it reads and no other.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from bids_factory import BidsTree
from exporttools import LAYOUTS, export_tree, exported_files, run_build, source_files
from factories import subject_table, tree_bytes
from hubserver import Fault, HubServer
from pushtools import ok, run_push

from nifti2parquet.retrieval.catalog import read_catalog
from nifti2parquet.retrieval.ranges import Counter, LocalStore
from nifti2parquet.retrieval.readback import open_shard

pytest_plugins = ["conftest_hub"]

REPO = "user/bids-mini"
MB = 1 << 20


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> BidsTree:
    return export_tree(tmp_path_factory.mktemp("hub-export") / "source")


def run_export(env: dict[str, str], *args: str, timeout: float = 120) -> dict[str, Any]:
    command = [sys.executable, "-m", "nifti2parquet", "export", *args, "--json"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"export failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def spawn_export(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "nifti2parquet", "export", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def range_reads(server: HubServer) -> list[tuple[str, str, int, int]]:
    """(revision, path, first byte, last byte) of every ranged GET of a file of REPO."""
    prefix = f"/datasets/{REPO}/resolve/"
    found = []
    for r in server.requests:
        if r.method == "GET" and r.path.startswith(prefix):
            revision, _, path = r.path[len(prefix) :].partition("/")
            assert r.range is not None, f"whole-file download of {path}"
            first, _, last = r.range.removeprefix("bytes=").partition("-")
            assert r.bytes_sent == int(last) - int(first) + 1
            found.append((revision, path, int(first), int(last)))
    return found


def page_spans(out: Path) -> dict[str, list[tuple[int, int, str]]]:
    """Shard -> (start, end, file path) of each page holding a file, from the local build."""
    store = LocalStore(str(out))
    spans: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for file in read_catalog(store, "train", Counter()).files:
        loc = file.location
        page = loc.leaf.page_of(loc.row)
        spans[loc.shard].append((page.offset, page.offset + page.size, file.path))
    return spans


def page_bytes(out: Path) -> dict[str, int]:
    """Shard -> bytes of all its ``bytes`` pages (images or file contents)."""
    store = LocalStore(str(out))
    totals = {}
    for folder in ("data", "files"):
        for shard in store.list(folder):
            index = open_shard(store, shard, Counter(), lambda leaf: False)
            totals[shard.path] = sum(
                p.size for g in index.blobs for b in g.values() for p in b.pages
            )
    return totals


def files_read(reads: list[tuple[str, str, int, int]], spans: dict[str, list]) -> set[str]:
    """The files whose page a read overlapped."""
    hit = set()
    for _, shard, first, last in reads:
        hit |= {path for start, end, path in spans.get(shard, []) if first < end and last >= start}
    return hit


@pytest.mark.parametrize(
    ("layout", "hub_transport"), [*((layout, "xet") for layout in LAYOUTS), ("session", "lfs")]
)
def test_push_then_export_repo_id_gives_the_source_back(
    tree: BidsTree,
    layout: str,
    hub_transport: str,
    hub_server: HubServer,
    hub_env: dict[str, str],
    tmp_path: Path,
) -> None:
    built = run_build(tree.root, tmp_path / "out", rows=layout)
    ok(run_push(hub_env, tmp_path / "out", REPO))
    shards = [p for p in hub_server.repo_files(REPO) if p.endswith(".parquet")]
    stored = {bool(hub_server.file_entry(REPO, p).xet_hash) for p in shards}
    assert stored == {hub_transport == "xet"}  # every shard stored with Xet, or none
    result = run_export(hub_env, REPO, str(tmp_path / "dest"))

    expected = source_files(tree.root, {p.path for p in built.left_out})
    assert exported_files(tmp_path / "dest") == expected
    assert result["files_written"] == len(expected) == built.files_found - len(built.left_out)
    commit = hub_server.commits(REPO)[-1].id
    assert result["commit"] == commit
    assert {revision for revision, *_ in range_reads(hub_server)} == {commit}


def test_revision_is_the_version_exported(
    tree: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    run_build(tree.root, tmp_path / "all")
    run_build(tree.root, tmp_path / "one", subjects=("01",))
    ok(run_push(hub_env, tmp_path / "all", REPO))
    ok(run_push(hub_env, tmp_path / "one", REPO, "--revision", "only-01"))
    hub_server.clear_log()

    on_branch = run_export(hub_env, REPO, str(tmp_path / "b"), "--revision", "only-01")
    branch_commit = hub_server.commits(REPO, "only-01")[-1].id
    assert {revision for revision, *_ in range_reads(hub_server)} == {branch_commit}
    on_main = run_export(hub_env, REPO, str(tmp_path / "m"))

    assert on_branch["commit"] == branch_commit != on_main["commit"]
    branch_files, main_files = exported_files(tmp_path / "b"), exported_files(tmp_path / "m")
    assert not any(p.startswith(("sub-02/", "sub-03/")) for p in branch_files)
    assert any(p.startswith("sub-02/") for p in main_files)


def test_one_subject_reads_only_its_pages_and_small_columns_elsewhere(
    tree: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_build(tree.root, out, rows="session")
    ok(run_push(hub_env, out, REPO))
    hub_server.clear_log()
    result = run_export(hub_env, REPO, str(tmp_path / "dest"), "--subject", "02")

    reads = range_reads(hub_server)
    spans = page_spans(out)
    selected = set(exported_files(tmp_path / "dest"))
    assert files_read(reads, spans) == selected  # every selected page, and no other page
    holding = {shard for shard, pages in spans.items() if {p for *_, p in pages} & selected}
    served: dict[str, int] = defaultdict(int)
    for _, shard, first, last in reads:
        served[shard] += last - first + 1
    all_pages = page_bytes(out)
    assert set(served) == set(all_pages)  # every shard's index was read, nothing else
    checked = 0
    for shard, total in served.items():
        wanted = sum(end - start for start, end, path in spans[shard] if path in selected)
        assert total <= wanted + MB, shard
        if shard not in holding:
            assert wanted == 0 and total <= MB, shard  # footer and small columns only
        checked += 1
    assert checked == result["shards_indexed"] == len(all_pages) > len(holding) > 0
    assert result["shards_read"] == len(holding)
    assert sum(served.values()) == result["bytes_fetched"]


def pushed_and_exported(
    tree: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> tuple[Path, list[tuple[str, str, int, int]]]:
    """Build and push the tree; export it once into ``reference`` one file at a time. The build
    folder and that export's reads, in order (an export's reads are the same every time)."""
    out = tmp_path / "out"
    run_build(tree.root, out)
    ok(run_push(hub_env, out, REPO))
    hub_server.clear_log()
    run_export(hub_env, REPO, str(tmp_path / "reference"), "--threads", "1")
    reads = range_reads(hub_server)
    hub_server.clear_log()
    return out, reads


def test_killed_export_resumes_without_fetching_complete_files_again(
    tree: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    out, reads = pushed_and_exported(tree, hub_server, hub_env, tmp_path)
    total_reads = len(reads)

    # hold the 8th read before the end until the client is killed
    reached, release = threading.Event(), threading.Event()
    seen = [0]

    def hold(_: Any) -> None:
        seen[0] += 1
        if seen[0] == total_reads - 8:
            reached.set()
            release.wait(30)

    hub_server.inject(Fault("callback", path=r"/resolve/", times=None, callback=hold))
    dest = tmp_path / "dest"
    proc = spawn_export(hub_env, REPO, str(dest), "--threads", "1")
    try:
        assert reached.wait(60), "the export never reached its last reads"
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        release.set()
    hub_server.clear_faults()
    leftovers = {p for p in exported_files(dest) if p.endswith((".partial", ".lock"))}
    complete = set(exported_files(dest)) - leftovers
    reference = exported_files(tmp_path / "reference")
    assert 0 < len(complete) < len(reference)
    assert any(p.endswith(".partial") for p in leftovers)  # the file being fetched

    hub_server.clear_log()
    again = run_export(hub_env, REPO, str(dest))
    assert exported_files(dest) == reference
    assert again["files_present"] == len(complete)
    assert again["files_written"] == len(reference) - len(complete)
    assert files_read(range_reads(hub_server), page_spans(out)) == set(reference) - complete
    assert not [p for p in dest.rglob("*") if ".partial" in p.name or "nifti2parquet" in p.name]


LAZY = """
import hashlib
from nifti2parquet import ExportOptions, open_dataset
ds = open_dataset(ARGS["repo"], ExportOptions(subjects=("03",)))
images = [
    (i.path, hashlib.sha256(i.read()).hexdigest(), list(i.nifti().shape)) for i in ds.images()
]
emit({"images": images, "fetched": ds.bytes_fetched})
"""


def test_lazy_reader_fetches_only_the_images_read(
    tree: BidsTree,
    hub_server: HubServer,
    hub_env: dict[str, str],
    hub_python: Any,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    run_build(tree.root, out, rows="session")
    ok(run_push(hub_env, out, REPO))
    hub_server.clear_log()
    got = hub_python(LAZY, repo=REPO).check()

    import nibabel as nib

    expected = ["sub-03/ses-1/anat/sub-03_ses-1_T1w.nii.gz"]
    assert [path for path, *_ in got["images"]] == expected
    for path, digest, shape in got["images"]:
        assert digest == hashlib.sha256((tree.root / path).read_bytes()).hexdigest()
        assert shape == list(nib.load(tree.root / path).shape)
    reads = range_reads(hub_server)
    assert sum(last - first + 1 for *_, first, last in reads) == got["fetched"]
    assert files_read(reads, page_spans(out)) == set(expected)  # its page, no other


def test_a_refused_read_is_one_line_and_a_rerun_finishes(
    tree: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    _, reads = pushed_and_exported(tree, hub_server, hub_env, tmp_path)
    data_reads = sum(1 for _, path, _, _ in reads if path.startswith("data/"))
    late = Fault("status", path=r"/resolve/.*/data/", status=403, nth=data_reads - 2, times=None)
    hub_server.inject(late)
    dest = tmp_path / "dest"
    command = [sys.executable, "-m", "nifti2parquet", "export", REPO, str(dest), "--threads", "1"]
    failed = subprocess.run(command, env=hub_env, capture_output=True, text=True, timeout=120)

    assert failed.returncode == 4, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {REPO}@main: data/train-")
    assert "run the same command again" in lines[0] and "Traceback" not in failed.stderr
    hub_server.clear_faults()
    again = run_export(hub_env, REPO, str(dest))
    assert again["files_present"] > 0 and again["files_written"] > 0
    assert exported_files(dest) == exported_files(tmp_path / "reference")


def test_table_source_from_the_hub(
    hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    dataset = subject_table(tmp_path / "source", subjects=3)
    run_build(dataset.table, tmp_path / "out")
    ok(run_push(hub_env, tmp_path / "out", REPO))
    result = run_export(hub_env, REPO, str(tmp_path / "dest"))

    source = dataset.table.parent
    expected = {p.relative_to(source).as_posix(): p.read_bytes() for p in dataset.images()}
    expected[dataset.table.name] = dataset.table.read_bytes()
    assert tree_bytes(tmp_path / "dest") == expected
    assert result["files_written"] == len(expected)
