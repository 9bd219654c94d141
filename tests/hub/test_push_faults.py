"""``push`` under faults: every run ends with the exact expected remote tree, no file committed
twice, nothing lost.  Commit faults run over both transports (Xet, the default, and ``--no-xet``);
upload faults here are those of the LFS path (``test_push_xet_faults.py`` has the Xet ones).

Uploads are retried by ``huggingface_hub`` (5xx, 429 with Retry-After, dropped connections); the
commit POST is retried by push itself, which first re-reads the remote so a commit that landed
while its answer was lost (or timed out) is not made again. A push killed with SIGKILL at any
point finishes on the next run.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest_hub import TRANSPORTS
from hubserver import Fault, HubServer, RequestInfo
from pushtools import (
    SERVER_OPTIONS,
    SHARDS,
    assert_each_file_committed_once,
    assert_remote_is,
    build_dataset,
    copy_build,
    env_with,
    local_tree,
    ok,
    push_commits,
    remote_tree,
    run_push,
    spawn_push,
    upload_requests,
)

REPO = "user/faults"
BATCH = ("--files-per-commit", "3")  # 7 shards: 3 commits, the README in the last


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    return dict(SERVER_OPTIONS)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def out(template: Path, tmp_path: Path) -> Path:
    return copy_build(template, tmp_path / "out")


UPLOAD = r"^/_lfs/(upload|part)/"
COMMIT = r"/commit/"
FAULTS: dict[str, Callable[[], Fault]] = {
    "upload-503": lambda: Fault("status", UPLOAD, "PUT", status=503, times=2),
    "upload-429-retry-after": lambda: Fault(
        "status", UPLOAD, "PUT", status=429, headers={"Retry-After": "1"}
    ),
    "upload-dropped-mid-body": lambda: Fault("drop_mid_body", UPLOAD, "PUT", nth=2),
    "commit-500": lambda: Fault("status", COMMIT, "POST", status=500, nth=2),
    "commit-429-ratelimit": lambda: Fault(
        "status", COMMIT, "POST", status=429, headers={"RateLimit": '"api";r=0;t=1'}
    ),
    "commit-dropped-before-body": lambda: Fault("drop", COMMIT, "POST", nth=1),
    "commit-applied-answer-lost": lambda: Fault("drop_response", COMMIT, "POST", nth=2),
    "final-commit-applied-answer-lost": lambda: Fault("drop_response", COMMIT, "POST", nth=3),
}


CASES = [
    (name, transport)
    for name in FAULTS
    for transport in (("lfs",) if name.startswith("upload") else TRANSPORTS)
]


@pytest.mark.parametrize(("name", "hub_transport"), CASES)
def test_fault_ends_with_the_exact_tree(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, name: str, hub_transport: str
) -> None:
    fault = hub_server.inject(FAULTS[name]())

    result = ok(run_push(hub_env, out, REPO, *BATCH, "--json"))

    assert fault.fired, "the fault never fired"
    assert_remote_is(hub_server, REPO, out)
    assert_each_file_committed_once(hub_server, REPO)
    assert len(push_commits(hub_server, REPO)) == 3  # a lost answer did not make a 4th
    assert '"verified_files": 8' in result.stdout
    cas_writes = [r for r in hub_server.cas_requests if r.method == "POST"]
    assert bool(cas_writes) == (hub_transport == "xet")  # the transport really used
    assert bool(upload_requests(hub_server)) == (hub_transport == "lfs")


def test_rate_limited_commit_waits_as_told(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    hub_server.inject(Fault("status", COMMIT, "POST", status=429, headers={"Retry-After": "2"}))
    ok(run_push(hub_env, out, REPO, *BATCH))
    commits = hub_server.find("POST", path_regex=COMMIT)
    limited = next(r for r in commits if r.status == 429)
    after = next(r for r in commits if r.started > limited.started)
    assert after.started - (limited.started + limited.duration) >= 2.5  # Retry-After + 1 s


@pytest.mark.parametrize("hub_transport", ["lfs"])
def test_rate_limited_upload_is_retried_after_the_wait(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    hub_server.inject(Fault("status", UPLOAD, "PUT", status=429, headers={"Retry-After": "1"}))
    ok(run_push(hub_env, out, REPO, *BATCH))
    limited = next(r for r in upload_requests(hub_server) if r.status == 429)
    again = [r for r in upload_requests(hub_server) if r.path == limited.path and r.status == 200]
    assert again and again[0].started - limited.started >= 1.5
    assert_remote_is(hub_server, REPO, out)


def test_commit_timeout_is_resolved_against_the_remote(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    """The read timeout is real: a commit answered too late is given up, and push finds out
    from the remote whether it landed before sending it again (412 if it raced)."""
    fault = hub_server.inject(Fault("delay", COMMIT, "POST", nth=2, delay=3.0))
    env = env_with(hub_env, NIFTI2PARQUET_HUB_TIMEOUT="1")

    ok(run_push(env, out, REPO, *BATCH))

    assert fault.fired
    assert_remote_is(hub_server, REPO, out)
    assert_each_file_committed_once(hub_server, REPO)
    assert len(push_commits(hub_server, REPO)) == 3


def test_someone_else_commits_meanwhile(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    """parent_commit makes the server refuse (412) a commit built on a stale head; push
    re-reads the remote and builds on the new head, keeping the other person's file."""

    def commit_elsewhere(info: RequestInfo) -> None:
        hub_server.put_file_direct(REPO, "notes.txt", b"added by a colleague\n")

    hub_server.inject(Fault("callback", COMMIT, "POST", nth=2, callback=commit_elsewhere))

    ok(run_push(hub_env, out, REPO, *BATCH))

    assert hub_server.count("POST", path_regex=COMMIT, status=412) == 1
    assert hub_server.read_file(REPO, "notes.txt") == b"added by a colleague\n"  # kept
    theirs = [c for c in push_commits(hub_server, REPO) if c.author == "someone-else"]
    assert [c.added for c in theirs] == [("notes.txt",)]
    tree = remote_tree(hub_server, REPO)
    del tree["notes.txt"]
    assert tree == local_tree(out)
    assert_each_file_committed_once(hub_server, REPO)


@pytest.mark.parametrize("hub_transport", ["lfs"])  # Xet: test_push_xet_faults.py
def test_killed_mid_push_then_rerun_finishes(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    slow = hub_server.inject(Fault("delay", UPLOAD, "PUT", delay=0.2, times=None))
    proc = spawn_push(hub_env, out, REPO, *BATCH)
    try:
        assert hub_server.wait_until(
            lambda log: any(r.status == 200 and "/commit/" in r.path for r in log), timeout=60
        ), "no commit"
        commits_at_kill = len(hub_server.find("POST", path_regex=COMMIT, status=200))
        uploads = len(upload_requests(hub_server))
        assert hub_server.wait_until(
            lambda log: len([r for r in log if r.path.startswith("/_lfs/")]) > uploads + 1,
            timeout=30,
        )
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    hub_server.wait_idle()
    hub_server.clear_faults()
    del slow
    killed_at = push_commits(hub_server, REPO)
    assert 1 <= len(killed_at) < 3 and commits_at_kill == len(killed_at)
    stored = hub_server.lfs_objects()
    hub_server.clear_log()

    again = ok(run_push(hub_env, out, REPO, *BATCH, "--json"))

    assert_remote_is(hub_server, REPO, out)
    assert_each_file_committed_once(hub_server, REPO)
    assert push_commits(hub_server, REPO)[: len(killed_at)] == killed_at
    resent = [r for r in upload_requests(hub_server) if r.path.split("/")[3] in stored]
    assert resent == []  # objects that arrived before the kill are not uploaded again
    assert f'"skipped_files": {3 * len(killed_at)}' in again.stdout
    assert len(hub_server.repo_files(REPO)) == SHARDS + 2  # shards, README, .gitattributes
