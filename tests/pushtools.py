"""Helpers shared by the ``test_push*`` modules: a small built dataset, running ``push`` the way a
user does (``python -m nifti2parquet push ...`` in a subprocess whose environment points at the
local Hub server), and the checks a user would make on the remote afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from factories import build_options, subject_table
from hubserver import HubServer

from nifti2parquet.commands.build import build

SUBJECTS = 6  # one shard per subject with the thresholds below, and the files config's: 7 shards
SHARDS = SUBJECTS + 1
SIZES = (40_000, 50_000, 30_000)  # T1w bytes, cycled; BOLD runs are tiny
MAX_SHARD = 60_000
SERVER_OPTIONS = {"page_size": 4, "multipart_threshold": 40_000, "multipart_chunk_size": 16_000}
PUSH_TIMEOUT = 120

# Run the CLI with a Python audit hook that records every file the process opens (native code
# like hf_xet aside, which these tests do not use): proof that a re-run reads no shard even
# when the tests run as root, where chmod 000 does not stop a read.
AUDITED_CLI = """
import os, sys
opened = []
def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.fsdecode(args[0]))
sys.addaudithook(hook)
from nifti2parquet.commands.cli import main
try:
    main(sys.argv[2:], prog_name="nifti2parquet")
finally:
    with open(sys.argv[1], "w") as f:
        f.write("\\n".join(opened))
"""

# The CLI with push's own retries cut to 3 attempts, 0.2 s apart (default: 8, from 2 s up to a
# minute): for faults that never clear, where the test is about the final line, not the wait.
QUICK_RETRY_CLI = """
import importlib, sys
from nifti2parquet.commands.cli import main
from nifti2parquet.hub.retry import RetryPolicy
push = importlib.import_module("nifti2parquet.hub.push")  # the module, not the function
options = push.PushOptions
push.PushOptions = lambda **kw: options(**kw, retry=RetryPolicy(attempts=3, base_delay=0.2))
main(sys.argv[1:], prog_name="nifti2parquet")
"""


def build_dataset(
    root: Path, subjects: int = SUBJECTS, split: str = "train", previews: bool = False
) -> Path:
    """A finished build of a small subject table: ``subjects`` shards of 30-55 KB (and no
    previews unless asked: these tests count shards and commits; test_push_previews draws)."""
    source = subject_table(root / "source", subjects=subjects, sizes=SIZES)
    out = root / "out"
    options = build_options(
        split=split,
        max_shard_size=MAX_SHARD,
        row_group_size=30_000,
        workers=1,
        previews=previews,
    )
    build(str(source.table), str(out), options)
    return out


def copy_build(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def run_push(
    env: dict[str, str],
    output_dir: Path,
    repo_id: str,
    *args: str,
    audit: Path | None = None,
    timeout: float = PUSH_TIMEOUT,
    quick_retry: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``nifti2parquet push OUTPUT_DIR REPO_ID ARGS`` in a fresh interpreter (see conftest_hub)."""
    cli = ["push", str(output_dir), repo_id, *args, *transport_args(env)]
    if audit is not None:
        command = [sys.executable, "-c", AUDITED_CLI, str(audit), *cli]
    elif quick_retry:
        command = [sys.executable, "-c", QUICK_RETRY_CLI, *cli]
    else:
        command = [sys.executable, "-m", "nifti2parquet", *cli]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def spawn_push(
    env: dict[str, str], output_dir: Path, repo_id: str, *args: str
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "nifti2parquet",
        "push",
        str(output_dir),
        repo_id,
        *args,
        *transport_args(env),
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def transport_args(env: dict[str, str]) -> tuple[str, ...]:
    """An LFS test environment (``HF_HUB_DISABLE_XET=1``) pushes the way a user does: --no-xet."""
    return ("--no-xet",) if env.get("HF_HUB_DISABLE_XET") == "1" else ()


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"push failed ({result.returncode}):\n{result.stderr[-4000:]}"
    return result


def push_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(ok(result).stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shard_paths(output_dir: Path) -> list[str]:
    """Every shard of the build: the image rows' (data/) and the files config's (files/)."""
    return sorted(
        f"{folder}/{p.name}"
        for folder in ("data", "files")
        for p in (output_dir / folder).glob("*.parquet")
    )


def manifest_sha256(output_dir: Path, split: str = "train") -> dict[str, str]:
    data = json.loads((output_dir / ".nifti2parquet" / split / "manifest.json").read_text())
    shards = data["shards"] + (data["files"]["shards"] if data.get("files") else [])
    return {s["path"]: s["sha256"] for s in shards}


def local_tree(output_dir: Path) -> dict[str, tuple[int, str]]:
    """What the remote must hold: every shard, the card's previews and the README, as (size,
    sha256)."""
    previews = sorted(str(p.relative_to(output_dir)) for p in output_dir.glob("previews/*/*.png"))
    paths = [*shard_paths(output_dir), *previews, "README.md"]
    return {p: ((output_dir / p).stat().st_size, sha256(output_dir / p)) for p in paths}


def remote_tree(server: HubServer, repo_id: str, revision: str = "main") -> dict[str, Any]:
    files = server.repo_files(repo_id, revision)
    files.pop(".gitattributes", None)  # the Hub's initial commit
    return files


def assert_remote_is(
    server: HubServer, repo_id: str, output_dir: Path, revision: str = "main"
) -> None:
    """The exact expected tree: every local file, the same bytes, and nothing else."""
    assert remote_tree(server, repo_id, revision) == local_tree(output_dir)


def assert_each_file_committed_once(
    server: HubServer, repo_id: str, revision: str = "main"
) -> None:
    """No commit of the same files twice (a lost answer must not cause a second commit)."""
    counts = Counter(p for c in server.commits(repo_id, revision)[1:] for p in c.added)
    assert counts and max(counts.values()) == 1, counts


def assert_transport(server: HubServer, transport: str) -> None:
    """The content went the way asked: xorbs and shards to the CAS and no LFS upload (Xet), or
    LFS uploads and not one CAS request (``--no-xet``)."""
    cas_writes = [r for r in server.cas_requests if r.method == "POST"]
    lfs = [r for r in server.requests if r.path.startswith("/_lfs/")]
    if transport == "xet":
        assert lfs == [] and any("/v1/xorbs/" in r.path for r in cas_writes), cas_writes
        assert any(r.path.endswith("/shards") and r.status == 200 for r in cas_writes)
    else:
        assert server.cas_requests == [] and lfs


def push_commits(server: HubServer, repo_id: str, revision: str = "main") -> list[Any]:
    """Commits after the repo's initial one."""
    return server.commits(repo_id, revision)[1:]


def upload_requests(server: HubServer) -> list[Any]:
    return [r for r in server.requests if r.path.startswith("/_lfs/")]


def write_requests(server: HubServer) -> list[Any]:
    """Everything that changes the Hub or sends content: creates, uploads (LFS or Xet, and Xet
    write tokens), commits."""
    markers = ("/preupload/", "/commit/", "/lfs/objects/", "/repos/create", "/branch/")
    markers += ("/xet-write-token/",)
    return [
        r
        for r in server.requests
        if r.path.startswith(("/_lfs/", "/cas/")) or any(m in r.path for m in markers)
    ]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def without_xet(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "HF_HUB_DISABLE_XET"}


def env_with(env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**env, **extra}


def readable(path: Path, mode: int = 0o644) -> None:
    os.chmod(path, mode)
