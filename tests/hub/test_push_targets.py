"""Where a push lands: ``--create-pr`` (one PR for all batches), ``--revision`` (a branch, made
when missing; or an open PR), ``--private``; ``--dry-run`` writes nothing anywhere; ``--no-xet``
pushes over plain LFS even when the environment would use Xet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest_hub import TRANSPORTS
from hubserver import Fault, HubServer
from pushtools import (
    SERVER_OPTIONS,
    assert_each_file_committed_once,
    assert_remote_is,
    assert_transport,
    build_dataset,
    copy_build,
    ok,
    push_commits,
    push_json,
    remote_tree,
    run_push,
    without_xet,
    write_requests,
)

REPO = "user/targets"
BATCH = ("--files-per-commit", "3")


@pytest.fixture
def hub_server_options() -> dict[str, Any]:
    return dict(SERVER_OPTIONS)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("targets"))


@pytest.fixture
def out(template: Path, tmp_path: Path) -> Path:
    return copy_build(template, tmp_path / "out")


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_create_pr_puts_every_batch_in_one_pull_request(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, hub_transport: str
) -> None:
    result = push_json(run_push(hub_env, out, REPO, *BATCH, "--create-pr", "--json"))
    assert_transport(hub_server, hub_transport)
    tokens = hub_server.find("GET", path_contains="/xet-write-token/")
    assert [r.path.rsplit("/xet-write-token/", 1)[1] for r in tokens] == (
        ["None", "refs/pr/1", "refs/pr/1"] if hub_transport == "xet" else []
    )  # the library asks for a PR's first token at revision "None" (as the Hub expects)
    assert [r.query for r in tokens[:1]] == (["create_pr=1"] if hub_transport == "xet" else [])

    assert list(hub_server.pull_requests(REPO)) == [1]
    assert result["pr_url"] == f"{hub_server.url}/datasets/{REPO}/discussions/1"
    assert result["pr_revision"] == "refs/pr/1"
    assert_remote_is(hub_server, REPO, out, "refs/pr/1")
    assert len(push_commits(hub_server, REPO, "refs/pr/1")) == 3
    assert_each_file_committed_once(hub_server, REPO, "refs/pr/1")
    assert remote_tree(hub_server, REPO) == {}  # main is untouched

    again = ok(run_push(hub_env, out, REPO, *BATCH, "--revision", "refs/pr/1"))
    assert "nothing to push" in again.stdout  # an open PR can be continued with --revision


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_create_pr_whose_first_answer_is_lost_opens_one_pr(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, hub_transport: str
) -> None:
    hub_server.inject(Fault("drop_response", r"/commit/", "POST", nth=1))
    ok(run_push(hub_env, out, REPO, *BATCH, "--create-pr"))
    assert list(hub_server.pull_requests(REPO)) == [1]  # found again, not opened twice
    assert_remote_is(hub_server, REPO, out, "refs/pr/1")
    assert_each_file_committed_once(hub_server, REPO, "refs/pr/1")


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_revision_creates_the_branch_and_lands_there(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, hub_transport: str
) -> None:
    result = push_json(run_push(hub_env, out, REPO, *BATCH, "--revision", "v2-draft", "--json"))
    assert_transport(hub_server, hub_transport)

    assert set(hub_server.branches(REPO)) == {"main", "v2-draft"}
    assert_remote_is(hub_server, REPO, out, "v2-draft")
    assert remote_tree(hub_server, REPO) == {}
    assert result["url"] == f"{hub_server.url}/datasets/{REPO}/tree/v2-draft"
    again = ok(run_push(hub_env, out, REPO, *BATCH, "--revision", "v2-draft"))
    assert "nothing to push" in again.stdout


@pytest.mark.parametrize("hub_transport", TRANSPORTS)
def test_private_creates_a_private_repo(
    hub_server: HubServer, hub_env: dict[str, str], out: Path, hub_transport: str
) -> None:
    ok(run_push(hub_env, out, REPO, "--private", "--quiet"))
    assert hub_server.is_private(REPO)
    assert_transport(hub_server, hub_transport)
    assert_remote_is(hub_server, REPO, out)


def test_private_refuses_an_existing_public_repo(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    hub_server.create_repo_direct(REPO, private=False)
    refused = run_push(hub_env, out, REPO, "--private")
    assert refused.returncode == 2 and "is public" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert write_requests(hub_server) == [] and remote_tree(hub_server, REPO) == {}


def test_dry_run_prints_the_plan_and_writes_nothing(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    card = (out / "README.md").read_bytes()
    dry = ok(run_push(hub_env, out, REPO, *BATCH, "--dry-run"))

    assert not hub_server.repo_exists(REPO) and write_requests(hub_server) == []
    assert (out / "README.md").read_bytes() == card  # not even the local card
    lines = dry.stdout.splitlines()
    assert "  create the dataset repo" in lines
    assert sum(line.startswith("  upload  data/") for line in lines) == 6
    assert sum(line.startswith("  upload  files/") for line in lines) == 1
    assert [line for line in lines if line.startswith("  commit ")] == [
        "  commit 1/3: 3 shards",
        "  commit 2/3: 3 shards",
        "  commit 3/3: 1 shard, README.md",
    ]

    ok(run_push(hub_env, out, REPO, *BATCH))
    hub_server.clear_log()
    plan = json.loads(ok(run_push(hub_env, out, REPO, "--dry-run", "--json")).stdout)["plan"]
    assert plan["upload"] == [] and plan["commits"] == [] and len(plan["skip"]) == 7
    assert write_requests(hub_server) == []


def test_no_xet_pushes_over_lfs_when_xet_would_be_used(
    hub_server: HubServer, hub_env: dict[str, str], out: Path
) -> None:
    env = without_xet(hub_env)  # hf_xet is installed: the client would go to Xet by default
    ok(run_push(env, out, REPO, *BATCH, "--no-xet"))
    assert_remote_is(hub_server, REPO, out)
    assert hub_server.cas_requests == [] and hub_server.count(path_contains="xet-") == 0
    assert hub_server.count("PUT", path_regex=r"^/_lfs/") >= 7


def test_a_hub_that_refuses_xet_names_no_xet(
    hub_server_factory: Any, hub_env_factory: Any, out: Path
) -> None:
    no_cas = hub_server_factory(**SERVER_OPTIONS, xet=False)
    env = hub_env_factory(server=no_cas, transport="xet")
    refused = run_push(env, out, REPO, *BATCH)
    assert refused.returncode == 4 and "--no-xet" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].count("--no-xet") == 1
    assert no_cas.count(path_contains="xet-write-token") >= 1
    assert push_commits(no_cas, REPO) == []

    ok(run_push(env, out, REPO, *BATCH, "--no-xet"))
    assert_remote_is(no_cas, REPO, out)
