"""Pytest fixtures and helpers for tests that talk to the local Hub server (``hubserver.py``).

Why subprocesses: ``huggingface_hub`` and ``datasets`` read ``HF_ENDPOINT``, ``HF_TOKEN``,
``HF_HUB_DISABLE_XET`` and ``HF_HOME`` when they are imported, and other tests in the same
pytest process may already have imported them.

Transport: clients use Xet by default, as on the Hub (the server mounts a Xet CAS, see
``xetserver.py``). A module or test selects plain Git LFS by overriding the ``hub_transport``
fixture with ``"lfs"`` (or ``@pytest.mark.parametrize("hub_transport", TRANSPORTS)``): the
client environment then has ``HF_HUB_DISABLE_XET=1`` and ``pushtools.run_push`` adds
``--no-xet``.  So the server runs in-process (a background
thread: faults, log and state are directly accessible) and client code runs in a fresh
Python subprocess whose environment points at it (``hub_env``/``hub_python``).

Use from a test module with ``pytest_plugins = ["conftest_hub"]`` (or import the fixtures in
``tests/conftest.py``).  Override ``hub_server_options`` in a module to configure the server::

    @pytest.fixture
    def hub_server_options():
        return {"page_size": 5, "multipart_threshold": 256 * 1024}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hubserver import DEFAULT_TOKEN, HubServer

HUB_TOKEN = DEFAULT_TOKEN
HUBSERVER_SCRIPT = Path(__file__).with_name("hubserver.py")
_RESULT_MARKER = "@@HUB_RESULT@@"

# Prepended to every hub_python snippet.  `ARGS` holds the keyword arguments given to the
# runner (sent as JSON on stdin: no size limit, unlike the environment); `emit(value)` hands
# a JSON value back; `attempt(fn, ...)` turns an exception into a dict so that one script
# can check several failures.
CLIENT_PRELUDE = f"""
import json, os, sys
ARGS = json.loads(sys.stdin.read() or "{{}}")

def emit(value):
    print({_RESULT_MARKER!r} + json.dumps(value), flush=True)

def attempt(fn, *args, **kwargs):
    try:
        return {{"ok": True, "value": fn(*args, **kwargs)}}
    except Exception as exc:
        response = getattr(exc, "response", None)
        return {{
            "ok": False,
            "error": type(exc).__name__,
            "status": getattr(response, "status_code", None),
            "message": str(exc),
        }}
"""


@dataclass(frozen=True)
class ClientResult:
    """Outcome of a ``hub_python`` run; ``value`` is what the script passed to ``emit``."""

    returncode: int
    stdout: str
    stderr: str
    value: Any

    def check(self) -> Any:
        """The emitted value; fails the test with the script's stderr if the script failed."""
        if self.returncode != 0:
            raise AssertionError(
                f"client script failed ({self.returncode}):\n{self.stderr[-6000:]}"
            )
        return self.value


TRANSPORTS = ("xet", "lfs")
# hf_xet's own retries: 5xx are retried for ~100 s by default; keep fault tests short
XET_TEST_ENV = {
    "HF_XET_TELEMETRY_ENABLED": "false",
    "HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": "3",
    "HF_XET_CLIENT_RETRY_BASE_DELAY": "200ms",
    "HF_XET_CLIENT_SHARD_API_VERSION": "1",  # the CAS serves v1 only (v2 would be 404 + retry)
    "HF_XET_CLIENT_RECONSTRUCTION_API_VERSION": "1",
}


def hub_client_env(
    server: HubServer, home: Path, token: str | None = HUB_TOKEN, transport: str = "xet"
) -> dict[str, str]:
    """Environment for a client process talking to ``server`` (``token=None``: anonymous).

    ``transport="lfs"`` switches Xet off (``HF_HUB_DISABLE_XET=1``, read at import).
    ``HF_HOME`` (hence hf_xet's local shard cache) is private to ``home``.
    """
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE_"))}
    env.update(
        HF_ENDPOINT=server.url,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1" if token is None else "0",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    if token is not None:
        env["HF_TOKEN"] = token
    env.update(XET_TEST_ENV)
    if transport == "lfs":
        env["HF_HUB_DISABLE_XET"] = "1"
    return env


def run_client(code: str, env: dict[str, str], timeout: float = 120, **args: Any) -> ClientResult:
    """Run ``CLIENT_PRELUDE + code`` in a fresh interpreter; ``args`` become ``ARGS``."""
    script = CLIENT_PRELUDE + textwrap.dedent(code)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_RESULT_MARKER)]
    value = json.loads(lines[-1][len(_RESULT_MARKER) :]) if lines else None
    return ClientResult(proc.returncode, proc.stdout, proc.stderr, value)


def spawn_client(code: str, env: dict[str, str], **args: Any) -> subprocess.Popen[str]:
    """Start a client script in the background (e.g. to SIGKILL it mid-upload)."""
    with tempfile.TemporaryFile("w+") as args_file:  # becomes the child's stdin (ARGS)
        json.dump(args, args_file)
        args_file.seek(0)
        return subprocess.Popen(
            [sys.executable, "-c", CLIENT_PRELUDE + textwrap.dedent(code)],
            env=env,
            stdin=args_file,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def start_hub_subprocess(
    storage: Path, token: str = HUB_TOKEN, port: int = 0, *extra_args: str
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python tests/hubserver.py`` (e.g. for benchmarks); returns (process, url)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HUBSERVER_SCRIPT),
            "--storage",
            str(storage),
            "--token",
            token,
            "--port",
            str(port),
            *extra_args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"hubserver did not start (first line: {url!r})")
    return proc, url


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    """Keyword arguments for the ``hub_server`` fixture; override per module or test."""
    return {}


@pytest.fixture
def hub_server_factory(tmp_path: Path) -> Iterator[Callable[..., HubServer]]:
    """Start extra servers (``factory(**HubServer kwargs)``); all are stopped at teardown."""
    servers: list[HubServer] = []

    def factory(**options: Any) -> HubServer:
        storage = tmp_path / f"hub-storage-{len(servers)}"
        server = HubServer(storage, **{"token": HUB_TOKEN, **options}).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def hub_server(
    hub_server_factory: Callable[..., HubServer], hub_server_options: dict[str, Any]
) -> Iterator[HubServer]:
    """A started server (storage in ``tmp_path``); fails the test on internal server errors."""
    server = hub_server_factory(**hub_server_options)
    yield server
    assert not server.internal_errors, server.internal_errors[0]


@pytest.fixture
def hub_transport() -> str:
    """``"xet"`` (default, as on the Hub) or ``"lfs"``; override or parametrize per test."""
    return "xet"


@pytest.fixture
def hub_env_factory(
    hub_server: HubServer, tmp_path: Path, hub_transport: str
) -> Callable[..., dict[str, str]]:
    """``make(token=..., server=None, transport=hub_transport, home=None)``: client env for
    ``hub_server`` (token None = anonymous). Each call gets a fresh ``HF_HOME`` unless ``home``
    is given (reusing one keeps hf_xet's local shard cache, as a user's machine does)."""
    homes: list[Path] = []

    def make(
        token: str | None = hub_server.token,
        server: HubServer | None = None,
        transport: str = hub_transport,
        home: Path | None = None,
    ) -> dict[str, str]:
        homes.append(home or tmp_path / f"hf_home_{len(homes)}")
        return hub_client_env(server or hub_server, homes[-1], token, transport)

    return make


@pytest.fixture
def hub_env(hub_env_factory: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Client environment (``HF_ENDPOINT``, ``HF_TOKEN``, private ``HF_HOME``; Xet unless
    ``hub_transport`` is ``"lfs"``)."""
    return hub_env_factory()


@pytest.fixture
def hub_python(hub_env: dict[str, str]) -> Callable[..., ClientResult]:
    """``hub_python(code, env=None, timeout=120, **args)``: run client code in a subprocess.

    ``code`` runs after ``CLIENT_PRELUDE`` (``ARGS``, ``emit``, ``attempt``) against
    ``hub_server``, or against whatever ``env`` (from ``hub_env_factory``) points at.
    """

    def run(
        code: str, env: dict[str, str] | None = None, timeout: float = 120, **args: Any
    ) -> ClientResult:
        return run_client(code, env or hub_env, timeout, **args)

    return run


@pytest.fixture
def hub_spawn(hub_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``hub_spawn(code, env=None, **args)`` -> Popen of a background client; killed at teardown.

    Read its output with ``proc.communicate()`` once it has exited.
    """
    procs: list[subprocess.Popen[str]] = []

    def spawn(code: str, env: dict[str, str] | None = None, **args: Any) -> subprocess.Popen[str]:
        procs.append(spawn_client(code, env or hub_env, **args))
        return procs[-1]

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.fixture
def hub_subprocess_factory(
    tmp_path: Path,
) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """``start(token=HUB_TOKEN, *extra_cli_args)`` -> (process, url); killed at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def start(token: str = HUB_TOKEN, *extra_args: str) -> tuple[subprocess.Popen[str], str]:
        proc, url = start_hub_subprocess(tmp_path / f"hub-cli-{len(procs)}", token, 0, *extra_args)
        procs.append(proc)
        return proc, url

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes the stdout pipe
