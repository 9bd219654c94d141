"""The token never appears anywhere push writes: stdout, stderr, errors, the files written under
OUTPUT_DIR (card, manifests, lock) and under HF_HOME — even when the Hub echoes it back in an
error message, and whether it comes from ``--token`` or ``HF_TOKEN``; over Xet (whose local cache
lives under HF_HOME) and over LFS.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest_hub import TRANSPORTS
from hubserver import Fault, HubServer
from pushtools import (
    SERVER_OPTIONS,
    assert_remote_is,
    build_dataset,
    copy_build,
    files_under,
    ok,
    run_push,
)

REPO = "user/secret-brains"
TOKEN = "hf_VerySecretTokenValue0123456789"
WRONG = "hf_WrongTokenValue9876543210abcdef"
UPLOADS = {"xet": ("POST", r"^/cas/v1/xorbs/"), "lfs": ("PUT", r"^/_lfs/")}


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    return {**SERVER_OPTIONS, "token": TOKEN}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("token"))


def assert_nowhere(secret: str, texts: list[str], roots: list[Path]) -> None:
    for text in texts:
        assert secret not in text, text[-2000:]
    checked = 0
    for root in roots:
        for path in files_under(root):
            assert secret.encode() not in path.read_bytes(), path
            checked += 1
    assert checked, "no files were checked"


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_token_never_leaks(
    hub_server: HubServer,
    hub_env_factory: Callable[..., dict[str, str]],
    template: Path,
    tmp_path: Path,
    hub_transport: str,
) -> None:
    out = copy_build(template, tmp_path / "out")
    texts: list[str] = []

    # --token, HF_TOKEN unset; retried faults on the way; the Hub echoes the token in an error
    anonymous = hub_env_factory(token=None)
    method, uploads = UPLOADS[hub_transport]
    upload_fault = hub_server.inject(Fault("status", uploads, method, status=503))
    hub_server.inject(
        Fault("status", r"/commit/", "POST", status=500, body={"error": f"oops for {TOKEN}"})
    )
    first = ok(run_push(anonymous, out, REPO, "--token", TOKEN, "--files-per-commit", "3"))
    texts += [first.stdout, first.stderr]
    assert_remote_is(hub_server, REPO, out)
    assert upload_fault.fired == 1

    # HF_TOKEN, and a failure whose message contains the token: it is scrubbed
    with_env = hub_env_factory(token=TOKEN)
    hub_server.inject(
        Fault("status", r"/refs", "GET", status=403, body={"error": f"token {TOKEN} is read-only"})
    )
    refused = run_push(with_env, out, REPO)
    assert refused.returncode == 4 and "<token>" in refused.stderr
    texts += [refused.stdout, refused.stderr]

    # a wrong token: refused with one clear line, neither token shown
    wrong = run_push(anonymous, out, REPO, "--token", WRONG)
    assert wrong.returncode == 4 and "refused the credentials" in wrong.stderr
    texts += [wrong.stdout, wrong.stderr]

    json_run = ok(run_push(with_env, out, REPO, "--json"))
    dry = ok(run_push(with_env, out, REPO, "--dry-run", "--token", TOKEN))
    texts += [json_run.stdout, json_run.stderr, dry.stdout, dry.stderr]

    homes = [Path(anonymous["HF_HOME"]), Path(with_env["HF_HOME"])]
    for secret in (TOKEN, WRONG):
        assert_nowhere(secret, texts, [out, *[h for h in homes if h.exists()]])
    assert all(not r.path.count(TOKEN) and TOKEN not in r.query for r in hub_server.requests)


@pytest.mark.parametrize("on_path", [False, True])
def test_no_token_is_one_line_that_says_how_to_log_in(
    hub_server: HubServer,
    hub_env_factory: Callable[..., dict[str, str]],
    template: Path,
    tmp_path: Path,
    on_path: bool,
) -> None:
    """No ``HF_TOKEN``, a fresh ``HF_HOME`` (no saved login): push stops before any request with
    one line naming ``hf`` as it runs here (the venv's own, by its full path, when the venv is
    not on PATH), exit code 2 (refused before pushing), no traceback, nothing sent."""
    env = hub_env_factory(token=None)
    assert "HF_TOKEN" not in env and Path(env["HF_HOME"]).is_relative_to(tmp_path)
    venv_bin = Path(sys.executable).parent
    system = [p for p in env["PATH"].split(os.pathsep) if Path(p) != venv_bin]
    env["PATH"] = os.pathsep.join(([str(venv_bin)] if on_path else []) + system)
    hf = "hf" if on_path else shlex.quote(str(venv_bin / "hf"))
    hub_server.clear_log()
    result = run_push(env, copy_build(template, tmp_path / "out"), REPO)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: no Hugging Face token: log in with `{hf} auth login` or set HF_TOKEN (or pass "
        "--token); nothing was pushed"
    ]
    assert hub_server.requests == []
