"""``push`` before any byte is sent: the plan, the refusals, the retry policy, the client setup.

In-process and offline: the planner is a pure function of the local build and a remote listing,
so batching, skipping and deletions are checked here exhaustively; the end-to-end modules check
the same behaviour on the wire.
"""

from __future__ import annotations

import math
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from huggingface_hub.errors import HfHubHTTPError

from nifti2parquet.card.readme import PLACEHOLDER_REPO
from nifti2parquet.commands.cli import main
from nifti2parquet.common.errors import OptionError, OutputError
from nifti2parquet.hub.client import (
    ClientSettings,
    RetryPolicy,
    UploadMeter,
    http_status,
    hub_session,
    retry_delay,
    scrub,
)
from nifti2parquet.hub.push import (
    LocalBuild,
    PushFile,
    PushOptions,
    RemoteState,
    check_repo_id,
    commit_batches,
    hub_error,
    plan_push,
    push,
    read_local_build,
)
from nifti2parquet.hub.remote import RemoteFile, git_blob_id
from nifti2parquet.shards.output import OutputFolder

REPO = "user/plan"


def shard(i: int, split: str = "train", size: int = 100, n: int = 7) -> PushFile:
    path = f"data/{split}-{i:05d}-of-{n:05d}.parquet"
    return PushFile(path, f"/local/{path}", size, f"{i:064x}")


def remote_of(*files: PushFile) -> dict[str, RemoteFile]:
    return {f.path: RemoteFile(f.path, f.size, "0" * 40, f.sha256) for f in files}


def local_of(shards: list[PushFile], card: bytes = b"card", splits=("train",)) -> LocalBuild:
    globs = tuple((s, f"data/{s}-*") for s in splits)
    return LocalBuild("/local", tuple(splits), globs, tuple(shards), card, card)


def state(files: dict[str, RemoteFile], exists: bool = True) -> RemoteState:
    return RemoteState(exists, "main", "a" * 40 if exists else None, files)


# batching -------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 49, 50, 51, 100, 101])
@pytest.mark.parametrize("k", [1, 3, 50])
@pytest.mark.parametrize("card", [True, False])
def test_commit_batches_follow_the_formula(n: int, k: int, card: bool) -> None:
    shards = [shard(i, n=max(n, 1)) for i in range(n)]
    readme = PushFile("README.md", "/local/README.md", 10, "f" * 64, "b" * 40)
    batches = commit_batches(shards, (), readme if card else None, k)
    shard_commits = math.ceil(n / k)
    assert shard_commits <= len(batches) <= shard_commits + (1 if card else 0)
    assert [f for b in batches for f in b.uploads] == shards  # every shard once, in order
    assert all(b.num_operations <= k or (b.card and not b.uploads) for b in batches)
    if card:
        assert batches[-1].card == readme and not any(b.card for b in batches[:-1])


def test_deletions_and_readme_only_in_the_final_commit() -> None:
    shards = [shard(i) for i in range(7)]
    readme = PushFile("README.md", "/local/README.md", 10, "f" * 64, "b" * 40)
    stale = ("data/train-00008-of-00009.parquet",)
    batches = commit_batches(shards, stale, readme, 3)
    assert [len(b.uploads) for b in batches] == [3, 3, 1]  # 1 shard + README + 1 deletion fit
    assert batches[-1].deletions == stale and batches[-1].card == readme
    assert not any(b.deletions or b.card for b in batches[:-1])
    crowded = commit_batches(shards, stale, readme, 2)  # the last shard commit has no room
    assert [len(b.uploads) for b in crowded] == [2, 2, 2, 1, 0]
    assert crowded[-1].deletions == stale and crowded[-1].card == readme


# planning against the remote -----------------------------------------------------------------
def test_plan_skips_what_the_hub_has_by_size_and_sha256() -> None:
    shards = [shard(i) for i in range(4)]
    changed = PushFile(shards[1].path, "", shards[1].size, "e" * 64)
    resized = PushFile(shards[2].path, "", 99, shards[2].sha256)
    remote = remote_of(shards[0], changed, resized)
    remote["README.md"] = RemoteFile("README.md", 4, git_blob_id(b"card"), None)
    plan = plan_push(local_of(shards), state(remote), REPO, PushOptions(files_per_commit=2))
    assert [f.path for f in plan.skipped] == [shards[0].path]
    assert [f.path for f in plan.uploads] == [s.path for s in shards[1:]]
    assert plan.card is None  # same git blob id: not re-sent
    assert [len(b.uploads) for b in plan.batches] == [2, 1]


def test_plan_for_an_unchanged_remote_is_empty() -> None:
    shards = [shard(i) for i in range(3)]
    remote = remote_of(*shards)
    remote["README.md"] = RemoteFile("README.md", 4, git_blob_id(b"card"), None)
    plan = plan_push(local_of(shards), state(remote), REPO, PushOptions())
    assert plan.empty and plan.upload_bytes == 0 and len(plan.skipped) == 3


def test_plan_deletes_stale_shards_of_pushed_splits_only() -> None:
    shards = [shard(i, n=2) for i in range(2)]
    old = [shard(i, n=5) for i in range(5)]
    other_split = shard(0, split="test", n=1)
    remote = remote_of(*old, other_split)
    remote["data/notes.txt"] = RemoteFile("data/notes.txt", 3, "0" * 40, None)
    plan = plan_push(local_of(shards), state(remote), REPO, PushOptions())
    assert plan.deletions == tuple(s.path for s in old)
    assert plan.batches[-1].deletions == plan.deletions and plan.batches[-1].card is not None


def test_a_remote_shard_without_sha256_is_uploaded_again() -> None:
    shards = [shard(0, n=1)]
    git_only = {shards[0].path: RemoteFile(shards[0].path, shards[0].size, "0" * 40, None)}
    plan = plan_push(local_of(shards), state(git_only), REPO, PushOptions())
    assert [f.path for f in plan.uploads] == [shards[0].path]


def test_plan_for_a_new_repo_says_so() -> None:
    plan = plan_push(local_of([shard(0, n=1)]), state({}, exists=False), REPO, PushOptions())
    assert plan.create_repo and "create the dataset repo" in "\n".join(plan.lines())


# the local build ------------------------------------------------------------------------------
def test_card_is_rerendered_for_the_repo_id(out: Path) -> None:
    before = (out / "README.md").read_text()
    assert PLACEHOLDER_REPO in before
    local = read_local_build(OutputFolder(str(out)), "someone/brain-scans")
    card = local.card.decode()
    assert 'load_dataset("someone/brain-scans"' in card and PLACEHOLDER_REPO not in card
    assert card.split("---\n")[1] == before.split("---\n")[1]  # same YAML header
    assert len(local.shards) == 7 and not local.warnings


def test_a_hand_edited_card_is_pushed_as_it_is(out: Path) -> None:
    edited = (out / "README.md").read_text() + "\nThanks to every participant.\n"
    (out / "README.md").write_text(edited)
    local = read_local_build(OutputFolder(str(out)), REPO)
    assert local.card.decode() == edited
    assert [w.path for w in local.warnings] == ["README.md"]


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_refuses_shards_that_do_not_match_the_manifest(out: Path, damage: str) -> None:
    target = out / "data" / "train-00003-of-00006.parquet"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:-10])
    else:
        target.unlink()
    with pytest.raises(OutputError) as caught:
        read_local_build(OutputFolder(str(out)), REPO)
    assert [p.path for p in caught.value.problems] == ["data/train-00003-of-00006.parquet"]


def test_refuses_a_folder_without_a_finished_build(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no finished nifti2parquet build"):
        push(str(tmp_path), REPO)


@pytest.mark.parametrize(
    "repo_id", ["noslash", "a/b/c", "user/", "/name", "user/na me", "user/..x", "user/x.git"]
)
def test_refuses_malformed_repo_ids(repo_id: str) -> None:
    with pytest.raises(OptionError, match="not a Hub repo id"):
        check_repo_id(repo_id)


def test_cli_refusals_are_one_line_and_write_nothing(out: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    bad_id = runner.invoke(main, ["push", str(out), "not a repo"])
    no_build = runner.invoke(main, ["push", str(tmp_path / "empty"), REPO])
    (out / "data" / "train-00000-of-00006.parquet").write_bytes(b"short")
    mismatch = runner.invoke(main, ["push", str(out), REPO])
    for result in (bad_id, no_build):
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert result.output.startswith("error: ")
    assert mismatch.exit_code == 2 and "train-00000-of-00006.parquet" in mismatch.output
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


# retry policy and client ----------------------------------------------------------------------
def http_error(status: int, **headers: str) -> HfHubHTTPError:
    request = httpx2.Request("POST", "http://hub.test/api/datasets/u/r/commit/main")
    response = httpx2.Response(status, headers=headers, request=request)
    return HfHubHTTPError(f"{status} error", response=response)


def test_retry_policy() -> None:
    policy = RetryPolicy(attempts=3, base_delay=2, max_delay=60)
    assert retry_delay(http_error(429, **{"Retry-After": "7"}), 1, policy) == 8
    assert retry_delay(http_error(429, RateLimit='"api";r=0;t=30'), 1, policy) == 31
    assert retry_delay(http_error(412), 1, policy) == 0
    assert 1.6 <= retry_delay(http_error(503), 1, policy) <= 2
    assert 3.2 <= retry_delay(httpx2.ReadTimeout("slow"), 2, policy) <= 4
    wrapped = RuntimeError("Error while uploading 'x' to the Hub.")
    wrapped.__cause__ = http_error(502)
    assert retry_delay(wrapped, 1, policy) is not None
    assert retry_delay(http_error(503), 3, policy) is None  # attempts used up
    for status in (400, 401, 403, 404, 422):
        assert retry_delay(http_error(status), 1, policy) is None
    assert retry_delay(ConnectionError("HTTP status 501 Not Implemented, xet"), 1, policy) is None
    assert retry_delay(ValueError("LFS batch API returned errors"), 1, policy) is None


# the texts hf_xet 1.8 raises (ConnectionError, no response object), as seen against the test CAS
XET_401 = (
    "Network error: Request error: HTTP status client error (401 Unauthorized), domain: "
    "http://127.0.0.1:503/cas/v1/xorbs/default/5000a1"
)
XET_500 = (
    "Server error: Request error: HTTP status server error (500 Internal Server Error), "
    "domain: http://127.0.0.1:41647/cas/v1/shards"
)
XET_TOKEN_501 = (
    "Request error: 501 Not Implemented, domain: http://h/api/datasets/u/r/xet-write-token/main"
)
XET_DROPPED = "Request error: error sending request for url (http://127.0.0.1:4/cas/v1/shards)"


def test_hf_xet_errors_are_judged_by_the_status_their_text_names() -> None:
    policy = RetryPolicy(attempts=3, base_delay=2, max_delay=60)
    assert http_status(ConnectionError(XET_401)) == 401
    assert retry_delay(ConnectionError(XET_401), 1, policy) is None  # a port 503 is no 503
    assert http_status(ConnectionError(XET_500)) == 500
    assert retry_delay(ConnectionError(XET_500), 1, policy) is not None
    assert http_status(ConnectionError(XET_TOKEN_501)) == 501
    assert retry_delay(ConnectionError(XET_TOKEN_501), 1, policy) is None
    assert http_status(ConnectionError(XET_DROPPED)) is None
    assert retry_delay(ConnectionError(XET_DROPPED), 1, policy) is not None  # no status: network
    assert retry_delay(RuntimeError(XET_500), 1, policy) is None  # not an hf_xet error


def test_xet_refusals_say_who_refused_in_one_line() -> None:
    storage = str(hub_error(ConnectionError(XET_401), "commit (3 shards)"))
    assert storage.startswith("commit (3 shards): the Xet storage refused its token (HTTP 401")
    assert "--no-xet" in storage and "\n" not in storage
    token_401 = XET_TOKEN_501.replace("501 Not Implemented", "401 Unauthorized")
    hub = str(hub_error(ConnectionError(token_401), "commit (3 shards)"))
    assert "the Hub refused the credentials (HTTP 401" in hub and "--token" in hub
    failed = str(hub_error(ConnectionError(XET_500), "commit (3 shards)"))
    assert "HTTP 500" in failed and failed.endswith(
        "(if this network blocks Xet storage, add --no-xet)"
    )


def test_scrub_removes_tokens() -> None:
    text = "401 for hf_abcdef123 (Authorization: Bearer hf_other999)"
    assert scrub(text, ("hf_abcdef123", None)) == "401 for <token> (Authorization: Bearer <token>)"


def test_upload_meter_takes_back_bytes_of_a_retried_request() -> None:
    seen: list[int] = []
    meter = UploadMeter(seen.append)
    meter.start("put-1")
    meter.add("put-1", 100)
    meter.start("put-1")  # the library retried the same upload
    meter.add("put-1", 250)
    assert meter.total == 250 and sum(seen) == 250


def test_hub_session_installs_timeouts_and_restores_the_client_factory() -> None:
    from huggingface_hub import constants
    from huggingface_hub.utils import _http, get_session

    before, xet_before = _http._GLOBAL_CLIENT_FACTORY, constants.HF_HUB_DISABLE_XET
    with hub_session(ClientSettings(read_timeout=7, connect_timeout=3), UploadMeter(), True):
        timeout = get_session().timeout
        assert (timeout.connect, timeout.read, timeout.write) == (3, 7, 7)
        assert constants.HF_HUB_DISABLE_XET is True
    assert _http._GLOBAL_CLIENT_FACTORY is before
    xet_after = constants.HF_HUB_DISABLE_XET
    assert xet_after == xet_before
    assert get_session().timeout.read != 7
