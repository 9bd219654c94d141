"""Self-tests of the local Hub server (tests/hubserver.py).

Client-side checks run the REAL ``huggingface_hub`` / ``datasets`` in a subprocess (see
``conftest_hub``); protocol corners the client never exercises (bad uploads, auth errors,
Range requests, limits) are checked with raw HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hubserver import CONFLICT_MESSAGE, Fault, HubServer, RequestInfo, git_blob_sha1

pytest_plugins = ["conftest_hub"]

KIB = 1024
MULTIPART_THRESHOLD = 256 * KIB
CHUNK = 100 * KIB
PAGE_SIZE = 4

Runner = Callable[..., Any]  # the hub_python fixture (conftest_hub.ClientResult)


@pytest.fixture
def hub_transport() -> str:
    """This module checks the LFS side of the protocol (Xet: test_xetserver.py, test_push*)."""
    return "lfs"


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    """Small pages and parts so pagination and multipart are exercised with tiny files."""
    return {
        "page_size": PAGE_SIZE,
        "multipart_threshold": MULTIPART_THRESHOLD,
        "multipart_chunk_size": CHUNK,
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic binary content (contains NUL bytes, like Parquet)."""
    block = hashlib.sha256(f"seed-{seed}".encode()).digest() + b"\0"
    return (block * (size // len(block) + 1))[:size]


def raw(
    server: HubServer,
    method: str,
    path: str,
    body: bytes | dict | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    anonymous: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request with the server's token (or ``token``, or none if ``anonymous``).

    ``path`` may also be a full URL handed out by the server (presigned upload URLs).
    """
    target = urlsplit(path)
    path = f"{target.path}?{target.query}" if target.query else target.path
    all_headers = dict(headers or {})
    if not anonymous:
        all_headers["Authorization"] = f"Bearer {token or server.token}"
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


HEADER = {"key": "header", "value": {"summary": "raw commit", "description": ""}}


# ------------------------------------------------------------------------------------------
# Real client
# ------------------------------------------------------------------------------------------


def test_create_repo_visibility_and_auth(
    hub_server: HubServer, hub_python: Runner, hub_env_factory: Callable[..., dict[str, str]]
) -> None:
    value = hub_python("""
        from huggingface_hub import HfApi
        api = HfApi()
        emit({
            "whoami": api.whoami()["name"],
            "public": str(api.create_repo("user/pub", repo_type="dataset")),
            "private": api.create_repo("user/priv", repo_type="dataset", private=True).repo_id,
            "exist_ok": attempt(api.create_repo, "user/pub", repo_type="dataset", exist_ok=True),
            "again": attempt(api.create_repo, "user/pub", repo_type="dataset"),
            "private_info": api.dataset_info("user/priv").private,
            "model": api.create_repo("user/a-model").repo_id,
        })
    """).check()
    assert value["whoami"] == "user"
    assert value["public"] == f"{hub_server.url}/datasets/user/pub"
    assert value["exist_ok"]["ok"], value["exist_ok"]
    assert value["again"]["status"] == 409
    assert value["private_info"] is True
    assert hub_server.is_private("user/priv") and not hub_server.is_private("user/pub")
    assert hub_server.repo_exists("user/a-model", repo_type="model")

    value = hub_python(
        """
        from huggingface_hub import HfApi
        api = HfApi()
        emit({
            "private": attempt(lambda: api.dataset_info("user/priv").id),
            "public": attempt(lambda: api.dataset_info("user/pub").id),
            "create": attempt(api.create_repo, "user/nope", repo_type="dataset"),
        })
    """,
        env=hub_env_factory(token=None),
    ).check()
    assert value["private"]["error"] == "RepositoryNotFoundError"
    assert value["public"] == {"ok": True, "value": "user/pub"}
    assert value["create"]["status"] == 401
    assert hub_server.token not in repr(hub_server.requests)
    assert all(r.authenticated for r in hub_server.requests if r.path == "/api/whoami-v2")


def test_create_commit_with_multipart_file_and_readme(
    hub_server: HubServer, hub_python: Runner, tmp_path: Path
) -> None:
    files = {f"data/train-{i:05d}.parquet": payload(20 * KIB + i, seed=i) for i in range(6)}
    files["data/big.parquet"] = payload(MULTIPART_THRESHOLD + 2 * CHUNK + 123, seed=99)
    files["README.md"] = b"---\nlicense: mit\n---\n# demo\n"
    folder = tmp_path / "upload"
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    script = """
        from huggingface_hub import HfApi, CommitOperationAdd
        api = HfApi()
        api.create_repo("user/ds", repo_type="dataset", exist_ok=True)
        ops = [CommitOperationAdd(p, os.path.join(ARGS["folder"], p)) for p in ARGS["paths"]]
        info = api.create_commit("user/ds", ops, commit_message="Add shards", repo_type="dataset")
        emit({"oid": info.oid, "url": info.commit_url})
    """
    value = hub_python(script, folder=str(folder), paths=sorted(files)).check()

    assert hub_server.repo_files("user/ds") == {
        ".gitattributes": hub_server.repo_files("user/ds")[".gitattributes"],
        **{path: (len(data), sha256(data)) for path, data in files.items()},
    }
    assert hub_server.file_entry("user/ds", "data/big.parquet").lfs
    assert not hub_server.file_entry("user/ds", "README.md").lfs
    last = hub_server.commits("user/ds")[-1]
    assert (last.id, last.message) == (value["oid"], "Add shards")
    assert set(last.added) == set(files)
    assert value["url"] == f"{hub_server.url}/datasets/user/ds/commit/{last.id}"
    parts = hub_server.find(method="PUT", path_contains="/_lfs/part/")
    assert len(parts) == 5  # ceil((256 KiB + 200 KiB + 123) / 100 KiB)
    assert hub_server.count(method="POST", path_contains="/_lfs/complete/") == 1
    assert hub_server.count(method="PUT", path_contains="/_lfs/upload/") == 6
    assert not any(r.authenticated for r in hub_server.find(path_contains="/_lfs/"))

    # Same commit again: preupload oids (sha256 / git sha1) match, so the client skips it.
    hub_server.clear_log()
    again = hub_python(script, folder=str(folder), paths=sorted(files)).check()
    assert again["oid"] == value["oid"]
    assert hub_server.count(path_contains="/commit/") == 0
    assert hub_server.count(method="PUT") == 0


def test_preupload_lfs_files_then_create_commit(hub_server: HubServer, hub_python: Runner) -> None:
    hub_server.create_repo_direct("user/pre")
    data = {"a.parquet": payload(30 * KIB, 1), "b.parquet": payload(40 * KIB, 2)}
    value = hub_python(
        """
        from huggingface_hub import HfApi, CommitOperationAdd
        api = HfApi()
        ops = [CommitOperationAdd(p, c.encode("latin-1")) for p, c in ARGS["files"].items()]
        api.preupload_lfs_files("user/pre", ops, repo_type="dataset")
        uploaded = [op._is_uploaded for op in ops]
        api.create_commit("user/pre", ops, commit_message="after preupload", repo_type="dataset")
        emit({"uploaded": uploaded})
    """,
        files={k: v.decode("latin-1") for k, v in data.items()},
    ).check()
    assert value["uploaded"] == [True, True]
    puts = [r for r in hub_server.requests if r.method == "PUT"]
    commit = hub_server.find(path_contains="/commit/")
    assert len(puts) == 2 and len(commit) == 1
    assert all(put.started < commit[0].started for put in puts)
    b = data["b.parquet"]
    assert hub_server.repo_files("user/pre")["b.parquet"] == (len(b), sha256(b))


def test_upload_folder_tree_pagination_paths_info_and_download(
    hub_server: HubServer, hub_python: Runner, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    names = ["README.md", "notes.txt", "data/a.parquet", "data/b.parquet", "data/sub/c.parquet"]
    names += [f"logs/{i}.txt" for i in range(5)]
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(
            payload(1000 + i, i) if name.endswith(".parquet") else b"text %d\n" % i
        )
    value = hub_python(
        """
        from huggingface_hub import HfApi, hf_hub_download
        api = HfApi()
        api.create_repo("user/tree", repo_type="dataset")
        api.upload_folder(repo_id="user/tree", folder_path=ARGS["folder"], repo_type="dataset")
        def tree(**kw):
            return [e.path for e in api.list_repo_tree("user/tree", repo_type="dataset", **kw)]
        infos = api.get_paths_info(
            "user/tree", ["data/a.parquet", "logs", "missing.txt"], repo_type="dataset")
        lfs = hf_hub_download("user/tree", "data/sub/c.parquet", repo_type="dataset")
        regular = hf_hub_download("user/tree", "notes.txt", repo_type="dataset")
        emit({
            "recursive": tree(recursive=True),
            "data": tree(path_in_repo="data"),
            "expanded": [e.last_commit is not None for e in api.list_repo_tree(
                "user/tree", repo_type="dataset", expand=True)],
            "missing_dir": attempt(lambda: tree(path_in_repo="nope")),
            "infos": [[i.path, type(i).__name__, getattr(i, "lfs", None)] for i in infos],
            "lfs": open(lfs, "rb").read().hex(),
            "regular": open(regular, "rb").read().decode(),
            "missing_file": attempt(hf_hub_download, "user/tree", "nope.txt", repo_type="dataset"),
            "commits": [c.title for c in api.list_repo_commits("user/tree", repo_type="dataset")],
        })
    """,
        folder=str(folder),
    ).check()
    dirs = {"data", "data/sub", "logs"}
    assert sorted(value["recursive"]) == sorted([".gitattributes", *names, *dirs])
    assert value["recursive"].index("data") < value["recursive"].index("data/a.parquet")
    tree_pages = hub_server.find(method="GET", path_regex=r"/tree/main$")
    assert len(tree_pages) >= 4  # 14 entries / page size 4 (+ other listings)
    assert any("cursor=" in r.query for r in tree_pages)
    assert value["data"] == ["data/a.parquet", "data/b.parquet", "data/sub"]
    assert all(value["expanded"])
    assert value["missing_dir"]["error"] == "RemoteEntryNotFoundError"
    oid = sha256(payload(1002, 2))
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 1002\n"
    lfs_info = {"size": 1002, "sha256": oid, "pointer_size": len(pointer)}
    assert value["infos"] == [
        ["data/a.parquet", "RepoFile", lfs_info],
        ["logs", "RepoFolder", None],
    ]
    assert value["lfs"] == payload(1004, 4).hex()
    assert value["regular"] == "text 1\n"
    assert value["missing_file"]["error"] == "RemoteEntryNotFoundError"
    assert value["commits"] == ["Upload folder using huggingface_hub", "initial commit"]


def test_parent_commit_mismatch_is_412(hub_server: HubServer, hub_python: Runner) -> None:
    hub_server.create_repo_direct("user/race")
    stale = hub_server.branches("user/race")["main"]
    fresh = hub_server.put_file_direct("user/race", "other.txt", b"someone else was faster\n")
    value = hub_python(
        """
        from huggingface_hub import HfApi, CommitOperationAdd
        api = HfApi()
        commit = lambda parent: api.create_commit(
            "user/race", [CommitOperationAdd("mine.txt", b"mine")], commit_message="mine",
            repo_type="dataset", parent_commit=parent).oid
        emit({"stale": attempt(commit, ARGS["stale"]), "fresh": attempt(commit, ARGS["fresh"])})
    """,
        stale=stale,
        fresh=fresh,
    ).check()
    assert value["stale"]["status"] == 412
    assert CONFLICT_MESSAGE in value["stale"]["message"]
    assert value["fresh"]["ok"]
    messages = [c.message for c in hub_server.commits("user/race")]
    assert messages == ["initial commit", "Upload other.txt", "mine"]


def test_pull_request_and_branch_commits(hub_server: HubServer, hub_python: Runner) -> None:
    hub_server.create_repo_direct("user/refs")
    main_head = hub_server.branches("user/refs")["main"]
    value = hub_python("""
        from huggingface_hub import HfApi, CommitOperationAdd, hf_hub_download
        api = HfApi()
        add = lambda path, **kw: api.create_commit(
            "user/refs", [CommitOperationAdd(path, path.encode())], commit_message=f"add {path}",
            repo_type="dataset", **kw)
        pr = add("pr.txt", create_pr=True)
        add("pr2.txt", revision=pr.pr_revision)
        api.create_branch("user/refs", branch="dev", repo_type="dataset")
        add("dev.txt", revision="dev")
        refs = api.list_repo_refs("user/refs", repo_type="dataset", include_pull_requests=True)
        again = attempt(lambda: api.create_branch("user/refs", branch="dev", repo_type="dataset"))
        emit({
            "pr": [pr.pr_num, pr.pr_revision, pr.pr_url],
            "branch_again": again,
            "branches": sorted(b.name for b in refs.branches),
            "prs": [p.ref for p in refs.pull_requests],
            "pr_file": open(hf_hub_download("user/refs", "pr2.txt", repo_type="dataset",
                                            revision="refs/pr/1"), "rb").read().decode(),
            "on_main": api.file_exists("user/refs", "pr.txt", repo_type="dataset"),
        })
    """).check()
    assert value["pr"] == [1, "refs/pr/1", f"{hub_server.url}/datasets/user/refs/discussions/1"]
    assert value["branch_again"]["status"] == 409
    assert value["branches"] == ["dev", "main"] and value["prs"] == ["refs/pr/1"]
    assert value["pr_file"] == "pr2.txt" and value["on_main"] is False
    assert hub_server.branches("user/refs")["main"] == main_head
    pr_history = [c.message for c in hub_server.commits("user/refs", "refs/pr/1")]
    assert pr_history == ["initial commit", "add pr.txt", "add pr2.txt"]
    assert set(hub_server.repo_files("user/refs", "dev")) == {".gitattributes", "dev.txt"}
    assert hub_server.count(path_contains="/commit/refs/pr/1") == 1  # %2F-encoded on the wire


def test_load_dataset_reads_back_uploaded_parquet(
    hub_server: HubServer, hub_python: Runner, tmp_path: Path
) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "ds"
    (folder / "data").mkdir(parents=True)
    rows = [{"id": i, "name": f"subject-{i}"} for i in range(7)]
    for shard, chunk in enumerate((rows[:4], rows[4:])):
        path = folder / "data" / f"train-{shard:05d}-of-00002.parquet"
        pq.write_table(pa.Table.from_pylist(chunk), path)
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        "    path: data/train-*\n---\n# Demo\n"
    )
    value = hub_python(
        """
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("user/readback", repo_type="dataset")
        api.upload_folder(repo_id="user/readback", folder_path=ARGS["folder"], repo_type="dataset")
        from datasets import load_dataset
        ds = load_dataset("user/readback")
        emit({split: ds[split].to_list() for split in ds})
    """,
        folder=str(folder),
        timeout=180,
    ).check()
    assert value == {"train": rows}


# ------------------------------------------------------------------------------------------
# Fault injection with the real client
# ------------------------------------------------------------------------------------------

UPLOAD_SCRIPT = """
    from huggingface_hub import HfApi, CommitOperationAdd
    api = HfApi()
    api.create_repo("user/faults", repo_type="dataset", exist_ok=True)
    ops = [CommitOperationAdd(p, os.path.join(ARGS["folder"], p)) for p in ARGS["paths"]]
    emit(attempt(lambda: api.create_commit(
        "user/faults", ops, commit_message=ARGS.get("message", "upload"), repo_type="dataset").oid))
"""


def write_files(folder: Path, files: dict[str, bytes]) -> dict[str, Any]:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return {"folder": str(folder), "paths": sorted(files)}


def test_lfs_puts_are_retried_after_503_and_429(
    hub_server: HubServer, hub_python: Runner, tmp_path: Path
) -> None:
    files = {"small.parquet": payload(50 * KIB, 1), "big.parquet": payload(300 * KIB, 2)}
    hub_server.inject(Fault("status", path=r"^/_lfs/upload/", method="PUT", status=503))
    hub_server.inject(
        Fault(
            "status",
            path=r"^/_lfs/upload/",
            method="PUT",
            nth=2,
            status=429,
            headers={"Retry-After": "1"},
        )
    )
    rate_limited = hub_server.inject(
        Fault(
            "status",
            path=r"^/_lfs/part/.*/2$",
            status=429,
            headers={
                "RateLimit": '"api";r=0;t=0',
                "RateLimit-Policy": '"fixed window";"api";q=1;w=300',
            },
        )
    )
    result = hub_python(UPLOAD_SCRIPT, **write_files(tmp_path, files)).check()
    assert result["ok"], result
    statuses = [r.status for r in hub_server.find(method="PUT", path_contains="/_lfs/upload/")]
    assert statuses == [503, 429, 200]
    assert rate_limited.fired == 1
    assert [r.status for r in hub_server.find(path_regex=r"/_lfs/part/.*/2$")] == [429, 200]
    assert hub_server.repo_files("user/faults")["big.parquet"][1] == sha256(files["big.parquet"])


def test_commit_applied_but_response_lost(
    hub_server: HubServer, hub_python: Runner, tmp_path: Path
) -> None:
    hub_server.inject(Fault("drop_response", path=r"/commit/main$", method="POST"))
    args = write_files(tmp_path, {"shard.parquet": payload(10 * KIB)})
    result = hub_python(UPLOAD_SCRIPT, message="lost response", **args).check()
    assert not result["ok"]
    assert result["error"] == "RemoteProtocolError"  # httpx2: server disconnected
    assert hub_server.commits("user/faults")[-1].message == "lost response"
    assert "shard.parquet" in hub_server.repo_files("user/faults")
    (record,) = hub_server.find(path_contains="/commit/")
    assert (record.status, record.fault) == (None, "drop_response")


def test_dropped_connections_during_upload_are_retried(
    hub_server: HubServer, hub_python: Runner, tmp_path: Path
) -> None:
    files = {"basic.parquet": payload(200 * KIB, 3), "multi.parquet": payload(280 * KIB, 4)}
    hub_server.inject(Fault("drop_mid_body", path=r"^/_lfs/upload/", body_bytes=64 * KIB))
    hub_server.inject(Fault("drop", path=r"^/_lfs/part/.*/1$"))
    result = hub_python(UPLOAD_SCRIPT, **write_files(tmp_path, files)).check()
    assert result["ok"], result
    basic = hub_server.find(method="PUT", path_contains="/_lfs/upload/")
    assert [(r.status, r.fault) for r in basic] == [(None, "drop_mid_body"), (200, None)]
    assert basic[0].bytes_received == 64 * KIB
    assert [r.status for r in hub_server.find(path_regex=r"/_lfs/part/.*/1$")] == [None, 200]
    for name, data in files.items():
        assert hub_server.read_file("user/faults", name) == data


def test_upload_with_wrong_sha256_is_rejected(
    hub_server: HubServer, hub_python: Runner, tmp_path: Path
) -> None:
    """The file changes after the client hashed it: the PUT must be refused, nothing stored."""
    original, tampered = payload(100 * KIB, 5), payload(100 * KIB, 6)
    args = write_files(tmp_path, {"shard.parquet": original})

    def tamper(info: RequestInfo) -> None:
        (tmp_path / "shard.parquet").write_bytes(tampered)

    hub_server.inject(Fault("callback", path=r"\.git/info/lfs/objects/batch$", callback=tamper))
    result = hub_python(UPLOAD_SCRIPT, **args).check()
    assert not result["ok"] and "shard.parquet" in result["message"]
    (put,) = hub_server.find(method="PUT")
    assert put.status == 400
    assert sha256(original) not in hub_server.lfs_objects()
    assert sha256(tampered) not in hub_server.lfs_objects()
    assert [c.message for c in hub_server.commits("user/faults")] == ["initial commit"]


def test_client_killed_during_lfs_upload_then_resumed(
    hub_server: HubServer, hub_python: Runner, hub_spawn: Callable[..., Any], tmp_path: Path
) -> None:
    """The callback hook kills the client when its 2nd LFS upload starts; a re-run resumes."""
    files = {f"s{i}.parquet": payload(150 * KIB, 20 + i) for i in range(3)}
    args = write_files(tmp_path, files)
    client: list[subprocess.Popen[str]] = []
    hub_server.inject(
        Fault("callback", path=r"^/_lfs/upload/", nth=2, callback=lambda _: client[0].kill())
    )
    client.append(hub_spawn(UPLOAD_SCRIPT, **args))
    assert client[0].wait(timeout=60) == -signal.SIGKILL
    assert hub_server.wait_idle()  # bodies already in flight are received or abandoned
    assert [c.message for c in hub_server.commits("user/faults")] == ["initial commit"]
    assert not list((hub_server.storage_dir / "tmp").iterdir())  # no half-written object
    stored_before = hub_server.lfs_objects()
    assert stored_before <= {sha256(data) for data in files.values()}

    hub_server.clear_log()
    assert hub_python(UPLOAD_SCRIPT, **args).check()["ok"]
    assert hub_server.count(method="PUT") == 3 - len(stored_before)  # stored objects skipped
    assert hub_server.repo_files("user/faults")["s1.parquet"][1] == sha256(files["s1.parquet"])


def test_more_client_calls(hub_server: HubServer, hub_python: Runner) -> None:
    """Copy, deletes, tags, settings, snapshot, hf:// Range reads, history pagination."""
    pq_bytes = _parquet_bytes(list(range(100)))
    value = hub_python(
        """
        import os
        import pandas as pd
        from huggingface_hub import HfApi, CommitOperationCopy, HfFileSystem, snapshot_download
        api, r, kw = HfApi(), "user/misc", {"repo_type": "dataset"}
        api.create_repo(r, **kw)
        data = bytes.fromhex(ARGS["parquet"])
        api.upload_file(path_or_fileobj=data, path_in_repo="d/f.parquet", repo_id=r, **kw)
        for i in range(4):
            api.upload_file(path_or_fileobj=b"log", path_in_repo=f"logs/{i}.txt", repo_id=r, **kw)
        copy = [CommitOperationCopy("d/f.parquet", "d/copy.parquet")]
        api.create_commit(r, copy, commit_message="copy", **kw)
        out = {"missing": attempt(api.delete_file, "nope.txt", r, **kw)["error"]}
        api.delete_folder("logs", r, **kw)
        api.create_tag(r, tag="v1", **kw)
        api.update_repo_settings(r, private=True, **kw)
        snapshot = snapshot_download(r, **kw)
        out.update(
            commits=len(api.list_repo_commits(r, **kw)),
            files=api.list_repo_files(r, **kw),
            tags=[t.name for t in api.list_repo_refs(r, **kw).tags],
            revisions=[api.revision_exists(r, rev, **kw) for rev in ("v1", "nope")],
            lfs=[bool(s.lfs) for s in api.dataset_info(r, files_metadata=True).siblings],
            private=api.dataset_info(r).private,
            snapshot=sorted(os.path.relpath(os.path.join(d, f), snapshot)
                            for d, _, names in os.walk(snapshot) for f in names),
            ls=HfFileSystem().ls(f"datasets/{r}/d", detail=False),
            total=int(pd.read_parquet(f"hf://datasets/{r}/d/copy.parquet")["x"].sum()),
        )
        api.delete_repo(r, **kw)
        out["exists"] = api.repo_exists(r, **kw)
        emit(out)
    """,
        parquet=pq_bytes.hex(),
    ).check()
    files = [".gitattributes", "d/copy.parquet", "d/f.parquet"]
    assert value["missing"] == "RemoteEntryNotFoundError"
    assert value["commits"] == 8  # initial + 5 uploads + copy + delete_folder
    assert value["files"] == files and value["snapshot"] == files
    assert value["tags"] == ["v1"] and value["revisions"] == [True, False]
    assert value["lfs"] == [False, True, True] and value["private"] is True
    assert value["ls"] == ["datasets/user/misc/d/copy.parquet", "datasets/user/misc/d/f.parquet"]
    assert value["total"] == sum(range(100))
    assert value["exists"] is False
    assert hub_server.count(method="GET", status=206) >= 1  # hf:// reads use Range requests
    assert (
        hub_server.count(method="GET", path_regex=r"/commits/main$") == 2
    )  # 8 commits, pages of 4


def _parquet_bytes(values: list[int]) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": values}), sink)
    return sink.getvalue().to_pybytes()


# ------------------------------------------------------------------------------------------
# Raw HTTP: corners the client does not reach
# ------------------------------------------------------------------------------------------


def test_auth_errors_and_token_never_logged(
    hub_server: HubServer, hub_server_factory: Callable[..., HubServer]
) -> None:
    strict = hub_server_factory(allow_anonymous_reads=False)
    strict.create_repo_direct("user/public")
    assert raw(strict, "GET", "/api/datasets/user/public", anonymous=True)[0] == 401
    assert raw(strict, "GET", "/api/datasets/user/public")[0] == 200
    hub_server.create_repo_direct("user/secret", private=True)
    create = {"name": "x", "type": "dataset"}
    assert raw(hub_server, "POST", "/api/repos/create", create, anonymous=True)[0] == 401
    status, headers, _ = raw(hub_server, "POST", "/api/repos/create", create, token="hf_wrong")
    assert status == 401
    assert headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    status, headers, _ = raw(hub_server, "GET", "/api/datasets/user/secret", anonymous=True)
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
    status, headers, _ = raw(
        hub_server, "HEAD", "/datasets/user/secret/resolve/main/.gitattributes", anonymous=True
    )
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
    assert raw(hub_server, "GET", "/api/datasets/user/secret")[0] == 200
    status, _, body = raw(hub_server, "GET", "/api/datasets/user/secret/revision/nope")
    assert status == 404 and json.loads(body)["error"].startswith("Invalid rev id")
    status, headers, body = raw(hub_server, "GET", "/api/datasets/user/secret/xet-write-token/main")
    assert status == 200 and json.loads(body)["casUrl"] == headers["X-Xet-Cas-Url"]
    assert (
        raw(strict, "GET", "/api/datasets/user/public/xet-write-token/main", anonymous=True)[0]
        == 401
    )
    no_xet = hub_server_factory(xet=False)
    no_xet.create_repo_direct("user/plain")
    assert raw(no_xet, "GET", "/api/datasets/user/plain/xet-write-token/main")[0] == 501
    status, _, body = raw(
        hub_server, "POST", "/api/validate-yaml", {"content": "x"}, anonymous=True
    )
    assert (status, json.loads(body)) == (200, {"errors": [], "warnings": []})
    log = repr(hub_server.requests)
    assert hub_server.token not in log and "hf_wrong" not in log
    assert [r.authenticated for r in hub_server.requests[:2]] == [False, False]


def test_preupload_modes_and_remote_oids(hub_server: HubServer) -> None:
    hub_server.create_repo_direct("user/modes")
    hub_server.put_file_direct("user/modes", "notes.txt", b"hello\n")
    blob = payload(5000)
    hub_server.put_file_direct("user/modes", "x.parquet", blob)

    def sample(data: bytes) -> str:
        return base64.b64encode(data[:512]).decode()

    files = [
        {"path": "README.md", "size": 10, "sample": sample(b"# readme\n")},
        {"path": "notes.txt", "size": 6, "sample": sample(b"hello\n")},
        {"path": "x.parquet", "size": len(blob), "sample": sample(blob)},
        {"path": "weights.bin", "size": 3, "sample": sample(b"abc")},
        {"path": "raw.dat", "size": 100, "sample": sample(b"\0\1\2")},
        {"path": "huge.txt", "size": 10 * 1024 * 1024, "sample": sample(b"text")},
    ]
    status, _, body = raw(
        hub_server, "POST", "/api/datasets/user/modes/preupload/main", {"files": files}
    )
    assert status == 200
    answers = {f["path"]: f for f in json.loads(body)["files"]}
    modes = {path: f["uploadMode"] for path, f in answers.items()}
    assert modes == {
        "README.md": "regular",
        "notes.txt": "regular",
        "x.parquet": "lfs",
        "weights.bin": "lfs",
        "raw.dat": "lfs",
        "huge.txt": "lfs",
    }
    assert answers["notes.txt"]["oid"] == git_blob_sha1(b"hello\n")
    assert answers["x.parquet"]["oid"] == sha256(blob)
    assert "oid" not in answers["README.md"]
    assert not any(f["shouldIgnore"] for f in answers.values())


def test_commit_error_cases(hub_server: HubServer) -> None:
    hub_server.create_repo_direct("user/errs")
    url = "/api/datasets/user/errs/commit/main"
    headers = {"Content-Type": "application/x-ndjson"}
    missing = ndjson(HEADER, {"key": "deletedFile", "value": {"path": "ghost.txt"}})
    status, resp_headers, body = raw(hub_server, "POST", url, missing, headers)
    assert (status, resp_headers["X-Error-Code"]) == (404, "EntryNotFound")
    assert "A file with this name doesn't exist" in json.loads(body)["error"]
    never_uploaded = {"path": "a.parquet", "algo": "sha256", "oid": "ab" * 32, "size": 3}
    body_lfs = ndjson(HEADER, {"key": "lfsFile", "value": never_uploaded})
    assert raw(hub_server, "POST", url, body_lfs, headers)[0] == 422
    bogus = ndjson(HEADER, {"key": "bogus", "value": {}})
    assert raw(hub_server, "POST", url, bogus, headers)[0] == 400
    unknown = "/api/datasets/user/errs/commit/no-such-branch"
    _, unknown_headers, _ = raw(hub_server, "POST", unknown, ndjson(HEADER), headers)
    assert unknown_headers["X-Error-Code"] == "RevisionNotFound"
    under_a_file = {"path": ".gitattributes/x", "content": "", "encoding": "base64"}
    clash = ndjson(HEADER, {"key": "file", "value": under_a_file})
    assert raw(hub_server, "POST", url, clash, headers)[0] == 400
    assert len(hub_server.commits("user/errs")) == 1
    delete_folder = ndjson(HEADER, {"key": "deletedFolder", "value": {"path": "logs/"}})
    hub_server.put_file_direct("user/errs", "logs/a.txt", b"a")
    hub_server.put_file_direct("user/errs", "logs/b/c.txt", b"c")
    assert raw(hub_server, "POST", url, delete_folder, headers)[0] == 200
    assert hub_server.commits("user/errs")[-1].deleted == ("logs/a.txt", "logs/b/c.txt")
    assert set(hub_server.repo_files("user/errs")) == {".gitattributes"}
    hub_server.delete_file_direct("user/errs", ".gitattributes")
    assert hub_server.repo_files("user/errs") == {}


def test_raw_lfs_upload_checks(hub_server: HubServer) -> None:
    hub_server.create_repo_direct("user/raw")
    data, big = payload(1000, 7), payload(MULTIPART_THRESHOLD + 1, 8)
    batch = {
        "operation": "upload",
        "transfers": ["basic", "multipart"],
        "hash_algo": "sha256",
        "objects": [
            {"oid": sha256(data), "size": len(data)},
            {"oid": sha256(big), "size": len(big)},
            {"oid": "not-an-oid", "size": 1},
        ],
    }
    status, _, body = raw(
        hub_server, "POST", "/datasets/user/raw.git/info/lfs/objects/batch", batch
    )
    assert status == 200
    small_obj, big_obj, bad_obj = json.loads(body)["objects"]
    assert bad_obj["error"]["code"] == 422
    assert big_obj["actions"]["upload"]["header"]["chunk_size"] == str(CHUNK)
    part_keys = sorted(k for k in big_obj["actions"]["upload"]["header"] if k.isdigit())
    assert part_keys == ["00001", "00002", "00003"]
    href = small_obj["actions"]["upload"]["href"]
    assert raw(hub_server, "PUT", href, payload(1000, 9), anonymous=True)[0] == 400  # wrong sha256
    assert raw(hub_server, "PUT", href, data[:-1], anonymous=True)[0] == 400  # wrong size
    assert raw(hub_server, "PUT", href.replace("sig=", "sig=0"), data, anonymous=True)[0] == 403
    assert hub_server.lfs_objects() == set()
    status, headers, _ = raw(hub_server, "PUT", href, data, anonymous=True)
    assert status == 200 and headers["ETag"]
    assert hub_server.lfs_objects() == {sha256(data)}
    status, _, body = raw(
        hub_server, "POST", "/datasets/user/raw.git/info/lfs/objects/batch", batch
    )
    assert "actions" not in json.loads(body)["objects"][0]  # already stored


def test_paths_info_limit_and_range_downloads(hub_server: HubServer) -> None:
    hub_server.create_repo_direct("user/range")
    blob = payload(3000, 11)
    commit = hub_server.put_file_direct("user/range", "data/x.parquet", blob)
    form = "&".join(f"paths=f{i}" for i in range(1001)).encode()
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    paths_info = "/api/datasets/user/range/paths-info/main"
    assert raw(hub_server, "POST", paths_info, form, form_headers)[0] == 413
    url = "/datasets/user/range/resolve/main/data/x.parquet"
    status, headers, _ = raw(hub_server, "HEAD", url)
    assert (status, headers["ETag"], headers["X-Linked-Size"]) == (200, f'"{sha256(blob)}"', "3000")
    assert headers["X-Repo-Commit"] == commit
    status, headers, body = raw(hub_server, "GET", url, headers={"Range": "bytes=10-19"})
    assert (status, headers["Content-Range"], body) == (206, "bytes 10-19/3000", blob[10:20])
    status, _, body = raw(hub_server, "GET", url, headers={"Range": "bytes=-5"})
    assert (status, body) == (206, blob[-5:])
    assert raw(hub_server, "GET", url, headers={"Range": "bytes=5000-"})[0] == 416
    status, headers, _ = raw(hub_server, "HEAD", "/datasets/user/range/resolve/main/nope")
    assert (status, headers["X-Error-Code"]) == (404, "EntryNotFound")
    assert headers["X-Repo-Commit"] == commit
    encoded = "/api/datasets/user/range/tree/main/data%2Fx.parquet"
    assert raw(hub_server, "GET", encoded)[0] == 404  # a file is not a listable directory
    status, _, body = raw(hub_server, "GET", "/api/datasets/user/range/tree/main/data")
    assert [e["path"] for e in json.loads(body)] == ["data/x.parquet"]


def test_cli_subprocess_mode(hub_subprocess_factory: Callable[..., Any], tmp_path: Path) -> None:
    proc, url = hub_subprocess_factory("hf_cli_token")
    target = urlsplit(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    conn.request("GET", "/api/whoami-v2", headers={"Authorization": "Bearer hf_cli_token"})
    assert conn.getresponse().status == 200
    conn.close()
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert (tmp_path / "hub-cli-0" / "objects").is_dir()


def test_fault_matching_nth_times_delay_and_wait(hub_server: HubServer) -> None:
    flaky = hub_server.inject(
        Fault("status", path=r"^/api/whoami", method="GET", nth=2, times=2, status=500)
    )
    slow = hub_server.inject(Fault("delay", path=r"^/api/whoami", nth=4, delay=0.3))
    statuses = [raw(hub_server, "GET", "/api/whoami-v2")[0] for _ in range(5)]
    assert statuses == [200, 500, 500, 200, 200]
    assert flaky.fired == 2 and flaky.matched == 3  # exhausted faults are removed
    assert slow.wait(timeout=0) and hub_server.requests[3].duration >= 0.3
    assert hub_server.count(method="GET", path_contains="whoami", status=500) == 2
    hub_server.inject(Fault("status", path="whoami", times=None, status=503))
    assert raw(hub_server, "GET", "/api/whoami-v2")[0] == 503
    hub_server.clear_faults()
    hub_server.clear_log()
    assert raw(hub_server, "GET", "/api/whoami-v2")[0] == 200
    assert [r.status for r in hub_server.requests] == [200]


def test_latency_bandwidth_and_cdn_links(hub_server_factory: Callable[..., HubServer]) -> None:
    """What benchmarks and retrieval tests rely on: a round trip per request (and per new
    connection), one link shared by all connections, and expiring CDN links served without a
    token (lower bounds of time only: a loaded machine is slower, never faster)."""
    import threading
    import time

    server = hub_server_factory(latency=0.1, cdn_redirect=True)
    server.create_repo_direct("user/slow")
    blob = payload(600_000, 3)
    server.put_file_direct("user/slow", "data/x.parquet", blob)
    started = time.monotonic()
    status, headers, _ = raw(server, "GET", "/datasets/user/slow/resolve/main/data/x.parquet")
    assert time.monotonic() - started >= 0.2  # a new connection, then the request
    assert status == 302 and headers["X-Linked-Size"] == "600000"
    cdn = urlsplit(headers["Location"])
    assert cdn.hostname == "localhost" and cdn.path.startswith("/_cdn/")
    link = f"{cdn.path}?{cdn.query}"
    status, _, body = raw(server, "GET", link, headers={"Range": "bytes=5-9"}, anonymous=True)
    assert (status, body) == (206, blob[5:10])
    assert not server.requests[-1].authenticated

    server.latency, server.bandwidth = 0, 2_000_000  # 2 MB/s for all connections together
    started = time.monotonic()
    threads = [threading.Thread(target=raw, args=(server, "GET", link), kwargs={"anonymous": True})
               for _ in range(2)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 2 * len(blob) / 2_000_000 * 0.9
    server.expire_cdn_urls()
    assert raw(server, "GET", link, anonymous=True)[0] == 403
