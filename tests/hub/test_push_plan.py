"""The plan of a push, before any byte is sent: batching, skipping and deletions.

In-process and offline: the planner is a pure function of the local build and a remote listing,
so batching, skipping and deletions are checked here exhaustively; the end-to-end modules check
the same behaviour on the wire.
"""

from __future__ import annotations

import math

import pytest

from nifti2parquet.hub.local_build import LocalBuild, PushFile
from nifti2parquet.hub.push_options import PushOptions
from nifti2parquet.hub.push_plan import RemoteState, commit_batches, plan_push
from nifti2parquet.hub.remote import RemoteFile, git_blob_id

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
