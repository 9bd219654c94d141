"""``push`` over Xet, what a user sees: the bar moves as bytes go (not at commit time), the summary
and ``--json`` say how many bytes were really sent after deduplication against how many were
pushed, a re-publish from the same machine sends only what changed, and ``verify --repo`` reads
the Xet files back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hubserver import Fault, HubServer, RequestInfo
from pushtools import (
    SERVER_OPTIONS,
    SHARDS,
    assert_remote_is,
    assert_transport,
    push_json,
    run_push,
    shard_paths,
)

from nifti2parquet.common.units import format_size

REPO = "user/xet-brains"


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    return dict(SERVER_OPTIONS)


def shard_bytes(out: Path) -> int:
    return sum((out / p).stat().st_size for p in shard_paths(out))


def test_summary_and_json_say_bytes_sent_against_bytes_pushed(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    result = push_json(run_push(hub_env, out, REPO, "--files-per-commit", "3", "--json"))

    assert_transport(hub_server, "xet")
    received = hub_server.cas_bytes_received()  # xorbs and shards, as the CAS counted them
    assert result["uploaded_bytes"] == shard_bytes(out) + (out / "README.md").stat().st_size
    assert received <= shard_bytes(out) * 1.05  # random-ish image bytes: little to compress
    # hf_xet's own count of what it sent agrees with the server's to within 2%
    assert abs(result["sent_bytes"] - received) <= 0.02 * received
    assert f"{format_size(result['sent_bytes'])} sent after deduplication" in result["summary"]
    shards = [p for p in hub_server.repo_files(REPO) if p.endswith(".parquet")]
    assert len(shards) == SHARDS and all(hub_server.file_entry(REPO, p).xet_hash for p in shards)


def test_republish_from_the_same_machine_sends_only_what_changed(
    hub_server: HubServer, hub_env_factory: Any, out: Path, tmp_path: Path
) -> None:
    """hf_xet's local cache (under HF_HOME) knows the chunks already sent: pushing the same
    shards to another repo sends no xorb at all."""
    home = tmp_path / "one-machine"
    env = hub_env_factory(home=home)
    push_json(run_push(env, out, REPO, "--json"))
    first = len(hub_server.cas_requests)

    again = push_json(run_push(hub_env_factory(home=home), out, "user/copy", "--json"))

    assert_remote_is(hub_server, "user/copy", out)
    later = hub_server.cas_requests[first:]
    assert not [r for r in later if "/v1/xorbs/" in r.path]  # every chunk deduplicated
    assert again["sent_bytes"] == 0 and again["uploaded_bytes"] > shard_bytes(out)
    assert "0 B sent after deduplication" in again["summary"]


PROGRESS = """
import time
from nifti2parquet.common.progress import Bar, Reporter
from nifti2parquet.hub.push import PushOptions, push

updates = []

class Recording(Bar):
    def update(self, n):
        updates.append([time.time(), n])

class Recorder(Reporter):
    def bar(self, total, description, unit="B"):
        return Recording() if unit == "B" else Bar()

result = push(ARGS["out"], ARGS["repo"], PushOptions(files_per_commit=50), Recorder())
emit({"updates": updates, "sent": result.sent_bytes})
"""


def test_the_bar_moves_as_the_bytes_go_not_at_commit_time(
    hub_server: HubServer, hub_python: Any, out: Path
) -> None:
    commit_at: list[float] = []

    def note_commit(info: RequestInfo) -> None:
        commit_at.append(time.time())

    hub_server.inject(Fault("callback", r"/commit/", "POST", callback=note_commit))
    # slow xorb uploads: the shards' bytes are processed while the upload is still going
    hub_server.inject(Fault("delay", r"^/cas/v1/xorbs/", "POST", delay=0.5, times=None))

    run = hub_python(PROGRESS, out=str(out), repo=REPO).check()

    updates = run["updates"]
    before_commit = sum(n for t, n in updates if t < commit_at[0])
    assert before_commit >= shard_bytes(out)  # all shard bytes shown before the one commit
    assert len([n for t, n in updates if t < commit_at[0] and n > 0]) >= 1
    assert sum(n for _, n in updates) == shard_bytes(out) + (out / "README.md").stat().st_size
    assert run["sent"] > 0


def test_verify_repo_reads_the_xet_files_back(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    push_json(run_push(hub_env, out, REPO, "--json"))
    files = [p for p in hub_server.repo_files(REPO) if p != ".gitattributes"]
    listed = {e["path"]: e for d in ("data", "files") for e in listing(hub_server, d)}
    assert all("xetHash" in listed[p] for p in files if p.endswith(".parquet"))

    command = [sys.executable, "-m", "nifti2parquet", "verify", str(out)]
    run = subprocess.run(
        [*command, "--repo", REPO, "--deep", "--json"],
        env=hub_env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    report = json.loads(run.stdout)
    assert run.returncode == 0, report["problems"]
    assert report["checked"]["downloaded_files"] == len(files)
    assert (
        report["checked"]["downloaded_bytes"]
        == shard_bytes(out) + (out / "README.md").stat().st_size
    )


def listing(hub: HubServer, folder: str) -> list[dict[str, Any]]:
    """The Hub's tree listing of ``folder``, every page (what ``list_repo_tree`` reads)."""
    import re
    import urllib.request

    url: str | None = f"{hub.url}/api/datasets/{REPO}/tree/main/{folder}"
    entries: list[dict[str, Any]] = []
    while url:
        with urllib.request.urlopen(url) as response:
            entries += json.load(response)
            link = re.search(r"<([^>]+)>", response.headers.get("Link") or "")
        url = link.group(1) if link else None
    return entries
