"""What retrying cannot fix is said at once, in one line: no token, offline
mode, a Hub whose name does not resolve or that refuses connections; and a failure says "commits
already made stay" only when this push made some. No real network: a closed port on 127.0.0.1
and a name under ``.invalid`` (reserved, never resolves). (``push --dry-run`` plans offline in
each of these cases instead: see test_push_dry_run_offline.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hubserver import Fault, HubServer
from pushtools import SERVER_OPTIONS, build_dataset, copy_build, run_push

from nifti2parquet.common.programs import login_hint

FAST = 10.0  # seconds: the retries of huggingface_hub and of push took 168 s here before


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("unreachable"), subjects=2)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: connections are refused


def env_for(tmp_path: Path, endpoint: str, token: str | None = "hf_test", **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE_"))}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf-home"), NO_PROXY="*", **extra)
    env.pop("HTTPS_PROXY", None)
    if token:
        env["HF_TOKEN"] = token
    return env


def cli(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "nifti2parquet", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, time.monotonic() - started


COMMANDS = {
    "push": ["push", "{out}", "user/x", "-q"],
    "verify --repo": ["verify", "{out}", "--repo", "user/x", "-q"],
    "export": ["export", "user/x", "{out}-exported", "-q"],
}


def command(name: str, out: Path) -> list[str]:
    return [a.format(out=out) for a in COMMANDS[name]]


def test_no_token_says_how_to_log_in(built: Path, tmp_path: Path) -> None:
    env = env_for(tmp_path, f"http://127.0.0.1:{closed_port()}", token=None)
    result, seconds = cli(env, *command("push", built))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line == f"error: no Hugging Face token: {login_hint()}; nothing was pushed"
    assert "commits already made" not in line
    assert seconds < FAST


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_refused_connection_fails_fast(built: Path, tmp_path: Path, name: str) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    result, seconds = cli(env_for(tmp_path, endpoint), *command(name, built))
    assert result.returncode == 4
    assert result.stderr.splitlines() == [
        f"error: cannot reach the Hub at {endpoint}: connection refused; nothing was done"
    ]
    assert seconds < FAST


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_name_that_does_not_resolve_fails_fast(built: Path, tmp_path: Path, name: str) -> None:
    endpoint = "http://hub.nifti2parquet.invalid"
    result, seconds = cli(env_for(tmp_path, endpoint), *command(name, built))
    assert result.returncode == 4
    [line] = result.stderr.splitlines()  # and no "Retrying in 8s [Retry 5/5]" from the library
    assert line.startswith(
        f"error: cannot reach the Hub at {endpoint}: the name hub.nifti2parquet.invalid does "
        "not resolve"
    )
    assert seconds < FAST


@pytest.mark.parametrize("name", list(COMMANDS))
def test_offline_mode_is_one_line(built: Path, tmp_path: Path, name: str) -> None:
    env = env_for(tmp_path, "http://127.0.0.1:1", HF_HUB_OFFLINE="1")
    result, seconds = cli(env, *command(name, built))
    assert result.returncode == 4
    what = name if name in ("verify --repo", "export") else "push"
    assert result.stderr.splitlines() == [
        f"error: HF_HUB_OFFLINE is set: {what} needs the Hub (unset HF_HUB_OFFLINE)"
    ]
    assert seconds < FAST


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    return dict(SERVER_OPTIONS)


@pytest.mark.parametrize("nth,says", [(1, "nothing was committed"), (2, "the 1 commit already")])
def test_commits_already_made_stay_only_when_there_are_some(
    hub_server: HubServer,
    hub_env: dict[str, str],
    built: Path,
    tmp_path: Path,
    nth: int,
    says: str,
) -> None:
    out = copy_build(built, tmp_path / "out")
    hub_server.inject(Fault("status", r"/commit/", "POST", status=400, nth=nth))
    result = run_push(hub_env, out, "user/refused", "--files-per-commit", "1", "-q")
    assert result.returncode == 4
    [line] = result.stderr.splitlines()
    assert "HTTP 400" in line and says in line
