"""``export REPO_ID`` against the local Hub server, with the real ``huggingface_hub`` client.

What a user checks: after ``push``, ``export REPO_ID`` gives the source tree back byte for byte,
for every row layout, from shards stored with Xet (the Hub's default) and with Git LFS;
``--revision`` is the version exported, every read pinned to its commit; a one-subject export
reads, from each shard, the pages of the selected files plus at most 1 MB, a shard holding none
of them in one request, and makes at most 2 requests per shard plus 1 per selected file
(counted on the server's log, over Xet and LFS storage); an export killed midway and run again
finishes byte-identical without fetching again any image that was complete; a download cut
midway is resumed from its last byte; where the Hub redirects to its CDN, each shard is resolved
once and the token never leaves the Hub, and an expired link is resolved again; a read the Hub
refuses is one line and exit 4, and a re-run finishes; a table source comes back with its table;
the lazy reader fetches, for an image, its page and no other.
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
from conftest_hub import TRANSPORTS
from exporttools import EVENTS, LAYOUTS, export_tree, exported_files, run_build, source_files
from factories import files_config, subject_table, tree_bytes
from hubserver import Fault, HubServer
from pushtools import ok, run_push

from nifti2parquet.retrieval.catalog import read_catalog
from nifti2parquet.retrieval.ranges import LocalStore, RequestCounter
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
    for file in read_catalog(store, "train", RequestCounter()).files:
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
            index = open_shard(store, shard, RequestCounter(), lambda leaf: False)
            totals[shard.path] = sum(
                p.size for g in index.blobs for b in g.values() for p in b.pages
            )
    return totals


def files_fetched(reads: list[tuple[str, str, int, int]], spans: dict[str, list]) -> set[str]:
    """The files whose whole page the reads fetched."""
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _, shard, first, last in sorted(reads, key=lambda r: (r[1], r[2])):
        ranges = covered[shard]
        if ranges and first <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], last + 1))
        else:
            ranges.append((first, last + 1))
    return {
        path
        for shard, pages in spans.items()
        for start, end, path in pages
        if any(a <= start and end <= b for a, b in covered.get(shard, []))
    }


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


def big_tree(root: Path) -> BidsTree:
    """Six subjects of three images of 0.6-0.8 MB (a T1w, two BOLD runs in one list cell), with
    their events files: shards of several MB, so that what an export reads of them shows."""
    t = BidsTree(root)
    t.description(Name="Big enough to measure")
    t.text("README", "Images large enough to measure range reads.\n")
    t.json("task-rest_bold.json", {"TaskName": "rest", "RepetitionTime": 2.0})
    t.tsv("participants.tsv", ["participant_id", "age"], [[f"sub-0{k}", 20 + k] for k in SUBJECTS])
    for k in SUBJECTS:
        sub = f"sub-0{k}"
        t.image(f"{sub}/anat/{sub}_T1w.nii.gz", shape=(90, 90, 64))
        for run in (1, 2):
            t.image(f"{sub}/func/{sub}_task-rest_run-{run}_bold.nii.gz", shape=(40, 40, 30, 8))
            t.text(f"{sub}/func/{sub}_task-rest_run-{run}_events.tsv", EVENTS)
    return t


SUBJECTS = range(1, 7)
BIG = {"max_shard_size": 7_000_000, "row_group_size": 2_500_000}  # ~3 subjects, 3 row groups


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> BidsTree:
    return big_tree(tmp_path_factory.mktemp("hub-export-big") / "source")


def per_shard(reads: list[tuple[str, str, int, int]]) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes and requests of the range reads, per shard."""
    served: dict[str, int] = defaultdict(int)
    requests: dict[str, int] = defaultdict(int)
    for _, shard, first, last in reads:
        served[shard] += last - first + 1
        requests[shard] += 1
    return served, requests


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_one_subject_costs_its_pages_plus_1_mb_and_2_requests_per_shard(
    big: BidsTree,
    hub_transport: str,
    hub_server: HubServer,
    hub_env: dict[str, str],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    run_build(big.root, out, **BIG)
    ok(run_push(hub_env, out, REPO))
    hub_server.clear_log()
    result = run_export(hub_env, REPO, str(tmp_path / "dest"), "--subject", "02")

    selected = exported_files(tmp_path / "dest")
    dataset_level = {p for p in big.found if not p.startswith("sub-")}
    expected = {p for p in big.found if p.startswith("sub-02/")} | dataset_level
    assert set(selected) == expected and len(expected) == 9
    assert all(data == (big.root / p).read_bytes() for p, data in selected.items())
    reads = range_reads(hub_server)
    served, requests = per_shard(reads)
    spans, shards = page_spans(out), page_bytes(out)
    # every shard read is counted; the image shard holding none of the subject is read only on
    # a guess, when the config was slow to answer (see the next test)
    assert set(served) <= set(shards) and len(shards) == 3
    assert len(served) == result["shards_indexed"] in (2, 3)
    holding = 0
    for shard, size in shards.items():
        wanted = sum(end - start for start, end, path in spans[shard] if path in selected)
        assert served.get(shard, 0) <= wanted + MB, shard  # its pages, plus at most 1 MB
        if wanted:
            holding += 1
            assert shard in served
        elif shard in served:  # footer and small columns only, in one request
            assert requests[shard] == 1 and served[shard] < min(size, MB), shard
    assert result["shards_read"] == holding == 2  # a data shard and the files shard
    for _, shard, first, last in reads:  # an image shard: its end, then the subject's pages only
        ends = last + 1 == (out / shard).stat().st_size
        pages = [(a, b) for a, b, path in spans[shard] if path in selected]
        assert ends or any(a <= last and first < b for a, b in pages), (shard, first, last)
    # what was promised: 2 requests per shard read + 1 per selected file, and far fewer here
    assert len(reads) <= 2 * result["shards_indexed"] + result["files_selected"]
    assert result["requests"] == len(reads) <= 2 * result["shards_indexed"] + 3  # 3 images
    assert len(hub_server.requests) == len(reads) + 1  # and one listing of the repo
    assert result["bytes_fetched"] == sum(served.values()) < sum(shards.values()) / 2
    commit = hub_server.commits(REPO)[-1].id
    assert {revision for revision, *_ in reads} == {commit}


def test_one_subject_of_many_shards_reads_the_ends_of_the_shards_holding_it(
    big: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """The files config says which image shards hold the subject: the others' ends are not read,
    but from a Hub 50 ms away the first ones (one per thread), read on a guess while the config's
    end is (a round trip saved; a nearby server answers before the guess: ``test_catalog``)."""
    out = tmp_path / "out"
    run_build(big.root, out, max_shard_size=2_500_000, row_group_size=2_500_000)
    data = sorted(p.name for p in (out / "data").glob("*.parquet"))
    assert len(data) == len(SUBJECTS)  # a subject per shard
    ok(run_push(hub_env, out, REPO))
    hub_server.clear_log()
    hub_server.latency = 0.05
    try:
        dest = str(tmp_path / "dest")
        result = run_export(hub_env, REPO, dest, "--subject", "02", "--threads", "2")
    finally:
        hub_server.latency = 0.0

    expected = {p for p in big.found if p.startswith("sub-02/") or not p.startswith("sub-")}
    assert set(exported_files(tmp_path / "dest")) == expected
    config = files_config(out).values()
    holding = {
        r["image_shard"] for r in config if r["path"].startswith("sub-02/") and r["image_shard"]
    }
    read = {shard for _, shard, *_ in range_reads(hub_server) if shard.startswith("data/")}
    assert len(holding) == 1 and holding <= read  # the subject's shard
    assert 1 < len(read) <= 1 + 2 < len(data)  # and at most one other end per thread
    assert result["shards_read"] == 2  # the subject's shard and the files shard
    assert result["shards_indexed"] == len(read) + 1 and result["shards_total"] == len(data) + 1
    assert f"from 2 of {len(data) + 1} shards" in result["summary"]


def pushed_and_exported(
    tree: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> tuple[Path, list[tuple[str, str, int, int]]]:
    """Build and push the tree; export it once into ``reference`` one file at a time. The build
    folder and that export's reads, in order (an export's reads are the same every time)."""
    out = tmp_path / "out"
    run_build(tree.root, out, **BIG)
    ok(run_push(hub_env, out, REPO))
    hub_server.clear_log()
    run_export(hub_env, REPO, str(tmp_path / "reference"), "--threads", "1")
    reads = range_reads(hub_server)
    hub_server.clear_log()
    return out, reads


def test_killed_export_resumes_without_fetching_complete_files_again(
    big: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    out, reads = pushed_and_exported(big, hub_server, hub_env, tmp_path)
    total_reads = len(reads)

    # hold the last read (an image's page) until the client is killed
    reached, release = threading.Event(), threading.Event()
    seen = [0]

    def hold(_: Any) -> None:
        seen[0] += 1
        if seen[0] == total_reads:
            reached.set()
            release.wait(30)

    hub_server.inject(Fault("callback", path=r"/resolve/", times=None, callback=hold))
    dest = tmp_path / "dest"
    proc = spawn_export(hub_env, REPO, str(dest), "--threads", "1")
    try:
        assert reached.wait(60), "the export never reached its last read"
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
    missing = set(reference) - complete
    reads, spans = range_reads(hub_server), page_spans(out)
    images = {p for p in reference if p.endswith(".nii.gz")}
    # every file not complete is read again: its page, or (when the page also holds an image
    # that is complete: the kill can land between the renames of two runs of one list cell) its
    # own value's range; and no complete image's page is fetched again
    assert missing <= files_read(reads, spans)
    assert not files_fetched(reads, spans) & images & complete
    assert not [p for p in dest.rglob("*") if ".partial" in p.name or "nifti2parquet" in p.name]


def test_a_download_cut_midway_is_resumed_from_where_it_stopped(
    big: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    _, reads = pushed_and_exported(big, hub_server, hub_env, tmp_path)
    data = [r for r in reads if r[1].startswith("data/")]
    _, _, first, last = data[-1]  # an image's page
    cut = Fault("cut_response", path=r"/resolve/.*/data/", nth=len(data), body_bytes=100_000)
    hub_server.inject(cut)
    result = run_export(hub_env, REPO, str(tmp_path / "dest"), "--threads", "1")

    assert cut.fired == 1
    assert exported_files(tmp_path / "dest") == exported_files(tmp_path / "reference")
    ranges = [r.range for r in hub_server.requests]
    assert ranges[-1] == f"bytes={first + 100_000}-{last}"  # the rest, and only the rest
    assert result["requests"] == len(reads)  # a read resumed is still one read


def _pushed_behind_a_cdn(
    big: BidsTree, hub_server_factory: Any, hub_env_factory: Any, tmp_path: Path
) -> tuple[Any, Any]:
    """``big`` built and pushed over Git LFS to a server that redirects downloads to its CDN, as
    the Hub does; the server's log cleared."""
    server = hub_server_factory(cdn_redirect=True)
    env = hub_env_factory(server=server, transport="lfs")
    out = tmp_path / "out"
    run_build(big.root, out, **BIG)
    ok(run_push(env, out, REPO))
    server.clear_log()
    return server, env


def test_reads_follow_the_hub_to_its_cdn_once_per_shard_and_keep_the_token_home(
    big: BidsTree,
    hub_server_factory: Any,
    hub_env_factory: Any,
    tmp_path: Path,
) -> None:
    server, env = _pushed_behind_a_cdn(big, hub_server_factory, hub_env_factory, tmp_path)
    result = run_export(env, REPO, str(tmp_path / "dest"), "--subject", "02")

    expected = {p for p in big.found if p.startswith("sub-02/") or not p.startswith("sub-")}
    assert set(exported_files(tmp_path / "dest")) == expected
    resolved = server.find(method="GET", path_contains=f"/datasets/{REPO}/resolve/")
    direct = server.find(method="GET", path_contains="/_cdn/")
    assert {r.status for r in resolved} == {302} and {r.status for r in direct} == {206}
    assert len({r.path for r in resolved}) == len(resolved) == result["shards_indexed"] in (2, 3)
    assert len(direct) == result["requests"]  # after the first, straight to the CDN
    assert all(r.authenticated for r in resolved) and not any(r.authenticated for r in direct)

    # the CDN's links expire: a refused one is resolved again, and the export goes on
    server.clear_log()
    # one thread: the config's end, then the image shard's (each after a redirect), then that
    # shard's pages on the link it was given, which the third request to the CDN refuses
    expire = Fault("callback", path="/_cdn/", nth=3, callback=lambda _: server.expire_cdn_urls())
    server.inject(expire)
    again = run_export(env, REPO, str(tmp_path / "again"), "--subject", "02", "--threads", "1")
    assert exported_files(tmp_path / "again") == exported_files(tmp_path / "dest")
    refused = server.find(method="GET", path_contains="/_cdn/", status=403)
    assert expire.fired == 1 and len(refused) >= 1
    # a refused link is not a read (a shard's end read on a guess is one: see above)
    assert (
        again["requests"] - again["shards_indexed"] == result["requests"] - result["shards_indexed"]
    )


def test_reads_one_at_a_time_keep_one_connection_to_the_hub_and_one_to_its_cdn(
    big: BidsTree,
    hub_server_factory: Any,
    hub_env_factory: Any,
    tmp_path: Path,
) -> None:
    # every new connection is a round trip more (a TLS handshake or two on the real Hub): a
    # read must leave its connection ready for the next one, even when it ends mid-body
    server, env = _pushed_behind_a_cdn(big, hub_server_factory, hub_env_factory, tmp_path)
    result = run_export(env, REPO, str(tmp_path / "dest"), "--subject", "02", "--threads", "1")

    assert len(exported_files(tmp_path / "dest")) == result["files_selected"] == 9
    to_hub = {r.connection for r in server.requests if "/_cdn/" not in r.path}
    to_cdn = {r.connection for r in server.requests if "/_cdn/" in r.path}
    assert result["requests"] == len(server.find(path_contains="/_cdn/")) >= 3
    assert len(to_hub) == len(to_cdn) == 1


LAZY = """
import hashlib
from nifti2parquet import ExportOptions, Selection, open_dataset
ds = open_dataset(ARGS["repo"], ExportOptions(Selection(subjects=("03",))))
index = ds.bytes_fetched
images = [
    (i.path, hashlib.sha256(i.read()).hexdigest(), list(i.nifti().shape)) for i in ds.images()
]
emit({"images": images, "index": index, "fetched": ds.bytes_fetched})
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
    sizes = [last - first + 1 for *_, first, last in reads]
    assert sum(sizes) == got["fetched"]
    k = next(k for k in range(len(reads) + 1) if sum(sizes[:k]) == got["index"])
    spans = page_spans(out)
    assert len(reads[k:]) == 2 * len(expected)  # read() and nifti(): one request each
    assert files_read(reads[k:], spans) == files_fetched(reads[k:], spans) == set(expected)


def test_a_refused_read_is_one_line_and_a_rerun_finishes(
    big: BidsTree, hub_server: HubServer, hub_env: dict[str, str], tmp_path: Path
) -> None:
    _, reads = pushed_and_exported(big, hub_server, hub_env, tmp_path)
    data_reads = sum(1 for _, path, _, _ in reads if path.startswith("data/"))
    late = Fault("status", path=r"/resolve/.*/data/", status=403, nth=data_reads, times=None)
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
