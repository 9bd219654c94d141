"""``push`` under faults on the Xet path (the one every user takes): each run ends with the exact
expected remote tree, no file committed twice, nothing lost, and one clear line where it must fail.

``hf_xet`` retries the CAS itself (5xx, dropped connections; 3 attempts here, see conftest_hub);
what it gives up on reaches push as an error with no response object, judged by its text.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from hubserver import Fault, HubServer
from pushtools import (
    SERVER_OPTIONS,
    assert_each_file_committed_once,
    assert_remote_is,
    build_dataset,
    copy_build,
    ok,
    push_commits,
    push_json,
    run_push,
    spawn_push,
)

REPO = "user/xet-faults"
BATCH = ("--files-per-commit", "3")  # 7 shards: 3 commits, the README in the last
XORB = r"^/cas/v1/xorbs/"
SHARD = r"^/cas/v1/shards"


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    return dict(SERVER_OPTIONS)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("xet-faults"))


@pytest.fixture
def out(template: Path, tmp_path: Path) -> Path:
    return copy_build(template, tmp_path / "out")


def assert_pushed_over_xet(hub: HubServer, out: Path) -> None:
    assert_remote_is(hub, REPO, out)
    assert_each_file_committed_once(hub, REPO)
    assert not hub.find(path_regex=r"^/_lfs/")  # nothing went the LFS way
    shards = [p for p in hub.repo_files(REPO) if p.endswith(".parquet")]
    assert all(hub.file_entry(REPO, p).xet_hash for p in shards)


FAULTS = {
    "xorb-503": lambda: Fault("status", XORB, "POST", status=503),
    "xorb-dropped-mid-body": lambda: Fault("drop_mid_body", XORB, "POST", nth=2),
    "shard-500-clears": lambda: Fault("status", SHARD, "POST", status=500),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_transient_cas_fault_is_retried(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, name: str
) -> None:
    fault = hub_server.inject(FAULTS[name]())

    result = push_json(run_push(hub_env, out, REPO, *BATCH, "--json"))

    assert fault.fired == 1
    assert_pushed_over_xet(hub_server, out)
    assert len(result["commits"]) == 3
    failed = [r for r in hub_server.cas_requests if r.fault]
    retried = [r for r in hub_server.cas_requests if r.path == failed[0].path and r.status == 200]
    assert retried, "the failed CAS request was sent again"


def test_shard_500_that_never_clears_fails_with_one_line_then_a_rerun_finishes(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    hub_server.inject(Fault("status", SHARD, "POST", status=500, times=None))

    failed = run_push(hub_env, out, REPO, *BATCH, quick_retry=True)

    assert failed.returncode == 4, failed.stderr
    *retries, last = failed.stderr.strip().splitlines()
    assert "Traceback" not in failed.stderr and len(retries) == 2, failed.stderr
    assert all("retrying in" in line for line in retries)
    assert "500" in last and "run the same command again" in last
    assert push_commits(hub_server, REPO) == []  # no commit points at content the CAS lacks
    hub_server.clear_faults()
    ok(run_push(hub_env, out, REPO, *BATCH))
    assert_pushed_over_xet(hub_server, out)


def test_cas_401_fails_at_once_with_one_clear_line(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    hub_server.inject(Fault("status", XORB, "POST", status=401, times=None))

    failed = run_push(hub_env, out, REPO, *BATCH)

    assert failed.returncode == 4, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert "401" in lines[0] and "Xet" in lines[0] and "--no-xet" in lines[0]
    assert hub_server.token not in failed.stderr
    assert len(hub_server.xorb_uploads()) <= 2  # no retry storm
    assert push_commits(hub_server, REPO) == []


def test_token_that_expires_during_the_push_is_refreshed(
    hub_server_factory: Any, hub_env_factory: Any, out: Path
) -> None:
    # tokens announce 32 s (hf_xet refreshes one with under 30 s left); the CAS takes them 4 s
    hub = hub_server_factory(**SERVER_OPTIONS, xet_token_ttl=32, xet_token_valid=4)
    env = hub_env_factory(server=hub)
    hub.inject(Fault("delay", XORB, "POST", delay=4.5))  # the shard goes out after 4.5 s

    ok(run_push(env, out, REPO, "--files-per-commit", "50"))

    assert hub.count("GET", path_contains="/xet-write-token/") >= 2  # refreshed mid-upload
    assert not [r for r in hub.cas_requests if r.status == 401]
    assert_pushed_over_xet(hub, out)
    assert not hub.internal_errors


def test_push_killed_during_the_xet_upload_then_run_again(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    release = threading.Event()  # holds the second xorb upload until the push is killed
    uploading = hub_server.inject(
        Fault("callback", XORB, "POST", nth=2, callback=lambda info: release.wait(30))
    )
    proc = spawn_push(hub_env, out, REPO, *BATCH)
    try:
        assert uploading.wait(timeout=60), "the second xorb upload never started"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        release.set()
        proc.communicate()
    hub_server.clear_faults()
    assert hub_server.wait_idle(timeout=40)
    before = len(push_commits(hub_server, REPO))
    assert before == 1  # the first batch landed, the second was cut mid-upload

    ok(run_push(hub_env, out, REPO, *BATCH))

    assert_pushed_over_xet(hub_server, out)
    assert len(push_commits(hub_server, REPO)) == 3
