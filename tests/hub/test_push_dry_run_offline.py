"""``push --dry-run`` with no token or no network: the plan as for a new repo, the privacy
decision as for a public one (or a private one with ``--private``), one line saying it is offline
and why, exit 0, and nothing written anywhere. No real network: a closed port on 127.0.0.1, a name
under ``.invalid``, offline mode, or no token at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import build_options
from privacy_factory import identifying_bids, leaks
from pushtools import build_dataset, local_tree
from test_push_unreachable import cli, closed_port, env_for

from nifti2parquet.commands.build import build
from nifti2parquet.common.programs import login_hint

REPO = "user/x"
CASES = {
    "no token": dict(token=None),
    "connection refused": {},
    "name does not resolve": dict(endpoint="http://hub.nifti2parquet.invalid"),
    "offline mode": dict(HF_HUB_OFFLINE="1"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("offline"), subjects=2)


@pytest.fixture(scope="module")
def identifying_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("offline-privacy")
    build(str(identifying_bids(root / "bids")), str(root / "out"), build_options(workers=1))
    return root / "out"


def offline_env(tmp_path: Path, case: str) -> dict:
    extra = dict(CASES[case])
    endpoint = extra.pop("endpoint", f"http://127.0.0.1:{closed_port()}")
    return env_for(tmp_path, endpoint, **extra)


@pytest.mark.parametrize("case", list(CASES))
def test_a_dry_run_plans_offline(built: Path, tmp_path: Path, case: str) -> None:
    before = local_tree(built)
    result, _ = cli(offline_env(tmp_path, case), "push", str(built), REPO, "--dry-run", "-q")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    offline = [line for line in lines if line.startswith("offline: ")]
    assert len(offline) == 1 and "planned as if user/x did not exist yet" in offline[0]
    assert offline[0].endswith("would be created public")
    assert "  create the dataset repo" in lines
    shards = sorted(p.relative_to(built).as_posix() for p in (built / "data").iterdir())
    assert [line.split()[1] for line in lines if line.startswith("  upload  data/")] == shards
    assert "privacy: a push to user/x would go ahead" in result.stdout
    assert lines[-1].startswith("dry run for user/x@main (offline): ")
    assert lines[-1].endswith("nothing was written")
    assert local_tree(built) == before  # not a lock file, not the card


def test_the_offline_line_says_why(built: Path, tmp_path: Path) -> None:
    no_token, _ = cli(offline_env(tmp_path, "no token"), "push", str(built), REPO, "--dry-run")
    assert f"offline: no Hugging Face token: {login_hint()}" in no_token.stdout
    refused, _ = cli(
        offline_env(tmp_path, "connection refused"), "push", str(built), REPO, "--dry-run"
    )
    assert "connection refused; planned as if" in refused.stdout


def test_a_public_push_of_identifying_values_is_shown_refused(
    identifying_build: Path, tmp_path: Path
) -> None:
    env = offline_env(tmp_path, "no token")
    result, _ = cli(env, "push", str(identifying_build), REPO, "--dry-run")
    assert result.returncode == 0, result.stderr
    [decision] = [line for line in result.stdout.splitlines() if line.startswith("privacy: ")]
    assert decision.startswith(
        "privacy: a push to the public repo user/x would be refused: the build found 13 "
        "identifying values"
    )
    assert leaks({"stdout": result.stdout, "stderr": result.stderr}) == []
    private, _ = cli(env, "push", str(identifying_build), REPO, "--dry-run", "--private")
    assert "would be created private (--private)" in private.stdout
    assert "privacy: a push to the private repo user/x would go ahead with 13" in private.stdout


def test_the_json_record_says_offline(built: Path, tmp_path: Path) -> None:
    env = offline_env(tmp_path, "offline mode")
    result, _ = cli(env, "push", str(built), REPO, "--dry-run", "--json")
    record = json.loads(result.stdout)
    assert record["dry_run"] and record["offline"].startswith("offline: HF_HUB_OFFLINE is set")
    assert record["plan"]["create_repo"] and record["privacy_decision"].startswith("privacy: ")


def test_a_real_push_still_fails_at_once(built: Path, tmp_path: Path) -> None:
    result, _ = cli(offline_env(tmp_path, "no token"), "push", str(built), REPO)
    assert result.returncode == 2 and result.stderr.startswith("error: no Hugging Face token")
