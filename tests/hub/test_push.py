"""``nifti2parquet push`` end to end against the local Hub server, with the real client.

What a user checks: the dataset loads back with ``datasets.load_dataset(REPO_ID)`` with NIfTI
features and every image byte-exact; N shards arrive in ceil(N / files-per-commit) commits plus
at most one; a second push of a finished one sends nothing and opens no shard; a shard changed
after the build never lands; shards of an earlier build are removed in the final commit only.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import pytest
from conftest_hub import TRANSPORTS
from hubserver import HubServer
from pushtools import (
    SERVER_OPTIONS,
    SHARDS,
    SUBJECTS,
    assert_each_file_committed_once,
    assert_remote_is,
    assert_transport,
    build_dataset,
    manifest_sha256,
    ok,
    push_commits,
    push_json,
    run_push,
    shard_paths,
    upload_requests,
    write_requests,
)

from nifti2parquet.commands.build import BuildOptions, build
from nifti2parquet.common.units import format_size

REPO = "user/brains"


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    return dict(SERVER_OPTIONS)  # multipart from 40 KB, tree pages of 4 entries


LOAD_BACK = """
import hashlib
from datasets import List, Nifti, load_dataset
ds = load_dataset(ARGS["repo"], split="train")
features_ok = ds.features["t1w"] == Nifti() and ds.features["bold"] == List(Nifti())
raw = ds.cast_column("t1w", Nifti(decode=False)).cast_column("bold", List(Nifti(decode=False)))
def digest(cell):
    return None if cell is None else [cell["path"], hashlib.sha256(cell["bytes"]).hexdigest()]
rows = [
    {"subject_id": r["subject_id"], "t1w": digest(r["t1w"]), "bold": [digest(c) for c in r["bold"]]}
    for r in raw
]
first = ds[0]["t1w"]
emit({"features_ok": features_ok, "rows": rows, "decoded_shape": list(first.shape)})
"""


def source_digest(source: Path, cell: str | None) -> list[str] | None:
    if cell is None:
        return None
    path = source / cell
    return [cell, hashlib.sha256(path.read_bytes()).hexdigest()]  # stored under its table path


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_pushed_dataset_loads_back_byte_exact(
    hub_server: HubServer,
    hub_env: dict[str, str],
    hub_python: Any,
    out: Path,
    template: Path,
    hub_transport: str,
) -> None:
    result = push_json(run_push(hub_env, out, REPO, "--files-per-commit", "3", "--json"))
    assert_transport(hub_server, hub_transport)

    assert_remote_is(hub_server, REPO, out)
    assert result["url"] == f"{hub_server.url}/datasets/{REPO}"
    assert result["verified_files"] == SHARDS + 1 and result["uploaded_files"] == SHARDS + 1
    shards = sum((out / p).stat().st_size for p in shard_paths(out))
    if hub_transport == "lfs":  # upload bodies; the README goes inline in the commit
        assert result["sent_bytes"] == shards
    else:  # what hf_xet sent: little to deduplicate or compress in random image bytes
        assert 0.9 * shards <= result["sent_bytes"] <= 1.05 * shards
    local_card = (out / "README.md").read_bytes()
    assert hub_server.read_file(REPO, "README.md") == local_card  # same bytes here and there
    assert f'load_dataset("{REPO}"' in local_card.decode()

    hub_server.clear_log()
    loaded = hub_python(LOAD_BACK, repo=REPO).check()
    reconstructions = hub_server.count("GET", path_contains="/cas/v1/reconstructions/")
    if hub_transport == "xet":  # read back the way the Hub serves Xet files: reconstructions
        assert reconstructions == SUBJECTS and hub_server.count(path_contains="/xorb-data/")
    else:
        assert reconstructions == 0
    assert loaded["features_ok"]
    assert loaded["decoded_shape"]  # decodes to a nibabel image
    import csv

    source = template.parent / "source"
    with open(source / "participants.csv") as f:
        table = list(csv.DictReader(f))
    expected = [
        {
            "subject_id": row["subject_id"],
            "t1w": source_digest(source, row["t1w"] or None),
            "bold": [source_digest(source, p) for p in __import__("json").loads(row["bold"])],
        }
        for row in table
    ]
    assert loaded["rows"] == expected


FILES_SHARD = "files/train-00000-of-00001.parquet"  # the files config of these small builds


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
@pytest.mark.parametrize("files_per_commit", [1, 3, 7, 50])
def test_batching_commit_count(
    hub_server: HubServer,
    hub_env: dict[str, str],
    out: Path,
    files_per_commit: int,
    hub_transport: str,
) -> None:
    ok(run_push(hub_env, out, REPO, "--files-per-commit", str(files_per_commit), "--quiet"))
    assert_transport(hub_server, hub_transport)

    commits = push_commits(hub_server, REPO)
    shard_commits = math.ceil(SHARDS / files_per_commit)
    assert shard_commits <= len(commits) <= shard_commits + 1
    assert len(commits) == {1: 8, 3: 3, 7: 2, 50: 1}[files_per_commit]
    assert all(len(c.added) <= files_per_commit for c in commits)
    assert "README.md" in commits[-1].added  # the card comes last
    assert not any("README.md" in c.added for c in commits[:-1])
    assert [c.parent for c in commits[1:]] == [c.id for c in commits[:-1]]  # a straight line
    assert_remote_is(hub_server, REPO, out)
    assert_each_file_committed_once(hub_server, REPO)


@pytest.mark.parametrize("hub_transport", ["lfs"])
def test_uploads_carry_the_manifest_sha256(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    ok(run_push(hub_env, out, REPO, "--quiet"))
    oids = {r.path.split("/")[3] for r in upload_requests(hub_server)}
    assert oids == set(manifest_sha256(out).values())  # content addressed by the build's sha256
    assert any(r.path.startswith("/_lfs/part/") for r in upload_requests(hub_server))  # multipart
    assert hub_server.count("POST", path_contains="/lfs/objects/batch") == 1


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_rerun_after_success_sends_nothing_and_reads_no_shard(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, tmp_path: Path, hub_transport: str
) -> None:
    ok(run_push(hub_env, out, REPO, "--files-per-commit", "3"))
    commits_before = push_commits(hub_server, REPO)
    hub_server.clear_log()
    shards = sorted((out / "data").glob("*.parquet"))
    for shard in shards:
        os.chmod(shard, 0)  # stops a read for non-root users; the audit hook catches it for root
    opened_log = tmp_path / "opened.txt"
    try:
        again = ok(run_push(hub_env, out, REPO, "--files-per-commit", "3", audit=opened_log))
    finally:
        for shard in shards:
            os.chmod(shard, 0o644)

    assert "nothing to push" in again.stdout
    assert write_requests(hub_server) == []  # no create, preupload, token, upload or commit
    assert hub_server.cas_requests == []
    assert push_commits(hub_server, REPO) == commits_before
    opened = opened_log.read_text().splitlines()
    assert opened, "the audit hook saw no open() at all"
    assert not [p for p in opened if p.endswith(".parquet")], opened


def test_a_shard_changed_after_the_build_never_lands(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    target = out / "data" / "train-00002-of-00006.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: passes the cheap check, fails the Hub's sha256
    target.write_bytes(bytes(data))

    failed = run_push(hub_env, out, REPO, "--files-per-commit", "50")
    assert failed.returncode == 4, failed.stderr
    assert "train-00002-of-00006.parquet" in failed.stderr
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert push_commits(hub_server, REPO) == []  # nothing committed: no half dataset
    assert target.read_bytes() == bytes(data)  # local files are never touched


def test_shards_of_an_earlier_build_are_deleted_in_the_final_commit(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, tmp_path: Path
) -> None:
    ok(run_push(hub_env, out, REPO, "--files-per-commit", "3"))
    old = shard_paths(out)
    smaller = build_dataset(tmp_path / "v2", subjects=4)  # 4 shards: every old name is stale
    new = shard_paths(smaller)
    first_new_commit = len(push_commits(hub_server, REPO))

    result = push_json(run_push(hub_env, smaller, REPO, "--files-per-commit", "3", "--json"))

    assert_remote_is(hub_server, REPO, smaller)
    commits = push_commits(hub_server, REPO)[first_new_commit:]
    stale = sorted(set(old) - set(new))  # the image shards (files/ keeps its one name)
    assert sorted(commits[-1].deleted) == stale  # in the final commit
    assert not any(c.deleted for c in commits[:-1])  # never before
    assert "README.md" in commits[-1].added
    assert sorted(result["plan"]["delete"]) == stale and set(new) & set(old) == {FILES_SHARD}
    assert all((out / p).exists() for p in old)  # nothing local is deleted


def test_second_split_is_pushed_next_to_the_first(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, template: Path
) -> None:
    source = template.parent / "source" / "participants.csv"
    options = BuildOptions(split="test", max_shard_size=60_000, row_group_size=30_000, workers=1)
    build(str(source), str(out), options)
    ok(run_push(hub_env, out, REPO, "--quiet"))
    assert_remote_is(hub_server, REPO, out)
    assert any(p.startswith("data/test-") for p in hub_server.repo_files(REPO))
    card = hub_server.read_file(REPO, "README.md").decode()
    assert "data/test-*" in card and "data/train-*" in card


def run_on_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run push with stderr on a pseudo-terminal (120 columns): what a user sees."""
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    command = [sys.executable, "-m", "nifti2parquet", "push", *args]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        seen += data
    os.close(master)
    return proc.wait(timeout=60), seen.decode(errors="replace")


def test_progress_bars_on_a_terminal_only(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    code, screen = run_on_terminal(hub_env, str(out), REPO, "--files-per-commit", "3")
    assert code == 0, screen
    uploaded = sum((out / p).stat().st_size for p in shard_paths(out))
    uploaded += (out / "README.md").stat().st_size  # the card as pushed (with the repo id)
    assert f"uploading {format_size(uploaded)}" in screen and "B/s" in screen  # throughput, ETA
    assert "commits: 100%" in screen and "3/3" in screen

    quiet_code, quiet = run_on_terminal(hub_env, str(out), REPO, "--quiet")
    assert quiet_code == 0 and quiet == ""
