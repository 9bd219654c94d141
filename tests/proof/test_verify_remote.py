"""``verify --repo``: the Hub copy of a build, checked with the REAL ``huggingface_hub`` client
against the local Hub-protocol server (``hubserver.py``).

A built dataset is uploaded with a plain ``HfApi().upload_folder`` (our ``push`` is tested on its
own), then damaged through the server's own helpers, as another client (or a lost commit) would.
``nifti2parquet verify`` runs in a subprocess because ``huggingface_hub`` reads ``HF_ENDPOINT``
and friends when it is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hubserver import HubServer
from test_verify import Built, build_dataset

from nifti2parquet.common.errors import OptionError
from nifti2parquet.common.programs import login_hint
from nifti2parquet.hub.remote import git_blob_id
from nifti2parquet.proof.verify import VerifyOptions, verify

pytest_plugins = ["conftest_hub"]

REPO = "user/ds"
Runner = Callable[..., Any]


@dataclass
class Run:
    returncode: int
    report: dict[str, Any]
    stderr: str

    def messages(self, path: str | None = None) -> list[str]:
        return [p["message"] for p in self.report["problems"] if path in (None, p["path"])]


def run_verify(env: dict[str, str], out: Path, *args: str) -> Run:
    """``nifti2parquet verify OUT --repo REPO --json ...`` in a fresh interpreter."""
    command = [sys.executable, "-m", "nifti2parquet", "verify", str(out), "--repo", REPO]
    proc = subprocess.run(
        [*command, "--json", "-q", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.stdout, proc.stderr
    return Run(proc.returncode, json.loads(proc.stdout), proc.stderr)


def upload(hub_python: Runner, out: Path, revision: str | None = None) -> None:
    """The build's public part, as any uploader would send it (the state folder stays local)."""
    hub_python(
        """
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo(ARGS["repo"], repo_type="dataset", exist_ok=True)
        if ARGS["revision"]:
            api.create_branch(ARGS["repo"], branch=ARGS["revision"], repo_type="dataset")
        api.upload_folder(
            repo_id=ARGS["repo"], folder_path=ARGS["folder"], repo_type="dataset",
            revision=ARGS["revision"], ignore_patterns=[".nifti2parquet/**"],
        )
        emit(True)
        """,
        repo=REPO,
        folder=str(out),
        revision=revision,
    ).check()


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build_dataset(tmp_path)


@pytest.fixture
def pushed(built: Built, hub_python: Runner) -> Built:
    upload(hub_python, built.out)
    return built


def expected_files(built: Built) -> dict[str, int]:
    files = {s.path: s.size for s in built.manifest.all_shards}
    files.update({p.path: p.size for p in built.manifest.previews if p.path})
    files["README.md"] = (built.out / "README.md").stat().st_size
    return files


# everything fine ---------------------------------------------------------------------------------
def test_intact_remote_is_checked_from_metadata_alone(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    hub_server.clear_log()

    run = run_verify(hub_env, pushed.out)

    files = expected_files(pushed)
    assert run.returncode == 0, run.report["problems"]
    previews = [p for p in pushed.manifest.previews if p.path]
    assert previews  # the card's pictures are part of what the Hub must hold
    assert run.report["checked"]["remote_files"] == len(files)
    assert len(files) == len(pushed.manifest.all_shards) + len(previews) + 1
    assert run.report["checked"]["remote_bytes"] == sum(files.values())
    assert run.report["summary"].endswith(f", {len(files)} files on the Hub ({REPO}@main): OK")
    assert hub_server.count(path_contains="/resolve/") == 0  # nothing was downloaded
    assert hub_server.count(path_contains="/tree/") >= 1


def test_deep_downloads_every_file(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    run = run_verify(hub_env, pushed.out, "--deep")

    files = expected_files(pushed)
    assert run.returncode == 0, run.report["problems"]
    assert run.report["checked"]["downloaded_files"] == len(files)
    assert run.report["checked"]["downloaded_bytes"] == sum(files.values())
    assert run.report["checked"]["images_decoded"] == 14
    assert hub_server.count(method="GET", path_contains="/resolve/") >= len(files)


def test_a_branch_is_checked_with_revision(
    built: Built, hub_python: Runner, hub_env: dict[str, str]
) -> None:
    upload(hub_python, built.out, revision="v1")

    on_branch = run_verify(hub_env, built.out, "--revision", "v1")
    on_main = run_verify(hub_env, built.out)

    assert on_branch.returncode == 0, on_branch.report["problems"]
    assert on_main.returncode == 1
    assert set(on_main.messages()) == {f"missing on the Hub ({REPO}@main)"}
    assert len(on_main.messages()) == len(expected_files(built))


@pytest.mark.parametrize("hub_transport", ["xet", "lfs"])  # Xet: upload_folder opens the PR
def test_a_pull_request_is_checked_with_its_ref(
    built: Built, hub_python: Runner, hub_env: dict[str, str]
) -> None:
    hub_python(
        """
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo(ARGS["repo"], repo_type="dataset")
        api.upload_folder(repo_id=ARGS["repo"], folder_path=ARGS["folder"], repo_type="dataset",
                          ignore_patterns=[".nifti2parquet/**"], create_pr=True)
        emit(True)
        """,
        repo=REPO,
        folder=str(built.out),
    ).check()

    run = run_verify(hub_env, built.out, "--revision", "refs/pr/1")

    assert run.returncode == 0, run.report["problems"]
    assert run.report["summary"].endswith(f"on the Hub ({REPO}@refs/pr/1): OK")


# damage on the Hub -------------------------------------------------------------------------------
def test_remote_shard_replaced_by_another_file(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    shard = pushed.manifest.shards[0]
    other = pushed.shard(1).read_bytes()
    hub_server.put_file_direct(REPO, shard.path, other)

    run = run_verify(hub_env, pushed.out)

    assert run.returncode == 1
    assert run.messages(shard.path) == [
        f"differs on the Hub ({REPO}@main): {len(other):,} bytes there, {shard.size:,} here"
    ]
    assert len(run.messages()) == 1


def test_remote_shard_changed_in_place(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    """Same size, other bytes: only the sha256 the Hub records tells them apart."""
    shard = pushed.manifest.shards[1]
    data = bytearray(pushed.shard(1).read_bytes())
    data[len(data) // 2] ^= 0xFF
    hub_server.put_file_direct(REPO, shard.path, bytes(data))

    run = run_verify(hub_env, pushed.out)

    assert run.returncode == 1
    [message] = run.messages(shard.path)
    assert message.startswith(f"differs on the Hub ({REPO}@main): sha256 ")
    assert message.endswith(f"there, {shard.sha256[:12]}… here")


def test_remote_shard_missing(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    shard = pushed.manifest.shards[2]
    hub_server.delete_file_direct(REPO, shard.path)

    run = run_verify(hub_env, pushed.out)

    assert run.returncode == 1
    assert run.messages() == [f"missing on the Hub ({REPO}@main)"]
    assert run.report["problems"][0]["path"] == shard.path
    assert run.report["checked"]["remote_files"] == len(expected_files(pushed)) - 1


def test_extra_stray_data_file_on_the_remote(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    stray = "data/train-00003-of-00004.parquet"
    hub_server.put_file_direct(REPO, stray, pushed.shard(0).read_bytes())
    hub_server.put_file_direct(REPO, "data/notes.txt", b"not data\n")
    hub_server.put_file_direct(REPO, "docs/extra.md", b"# fine\n")

    run = run_verify(hub_env, pushed.out)

    assert run.returncode == 1
    assert run.messages(stray) == [
        f"stray data file on the Hub ({REPO}@main): not part of the build, but matches "
        "data/train-* so datasets loads it into split 'train'"
    ]
    assert len(run.messages()) == 1
    warnings = {w["path"]: w["message"] for w in run.report["warnings"]}
    assert set(warnings) == {"data/notes.txt"}  # under data/ but not loaded: a warning


def test_remote_readme_that_disagrees_with_the_shards(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    text = (pushed.out / "README.md").read_text()
    wrong = text.replace("num_examples: 6", "num_examples: 5")
    hub_server.put_file_direct(REPO, "README.md", wrong.encode())

    run = run_verify(hub_env, pushed.out)

    assert run.returncode == 1
    assert run.messages("README.md") == [
        f"differs on the Hub ({REPO}@main): its dataset_info disagrees with the local card, so "
        "datasets would read other features, splits or files"
    ]


def test_remote_readme_with_other_prose_is_a_warning(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    """A card re-rendered for the repo (its snippets name it) promises the same data."""
    text = (pushed.out / "README.md").read_text()
    assert "USER/DATASET" in text
    hub_server.put_file_direct(REPO, "README.md", text.replace("USER/DATASET", REPO).encode())

    run = run_verify(hub_env, pushed.out)

    assert run.returncode == 0, run.report["problems"]
    assert [w["path"] for w in run.report["warnings"]] == ["README.md"]
    assert "in its text only" in run.report["warnings"][0]["message"]


def test_deep_catches_bytes_the_hub_serves_wrong(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    """The Hub's record is right but the stored object is not: only downloading can tell."""
    shard = pushed.manifest.shards[0]
    stored = hub_server.lfs_object_path(shard.sha256)
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF
    stored.write_bytes(bytes(data))

    cheap = run_verify(hub_env, pushed.out)
    deep = run_verify(hub_env, pushed.out, "--deep")

    assert cheap.returncode == 0
    assert deep.returncode == 1
    [message] = deep.messages(shard.path)
    assert message.startswith(f"downloaded content differs ({REPO}@main): ")


def test_repo_not_found_is_one_clear_problem(built: Built, hub_env: dict[str, str]) -> None:
    run = run_verify(hub_env, built.out)

    assert run.returncode == 1
    assert run.report["problems"] == [
        {
            "path": f"{REPO}@main",
            "message": f"dataset repo not found on the Hub, or not visible to you: {login_hint()}",
            "severity": "error",
        }
    ]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("repo_id", ["not a repo", "user/x.git", "a/b/c"])
def test_a_malformed_repo_id_is_refused_before_any_request(built: Built, repo_id: str) -> None:
    with pytest.raises(OptionError, match="not a Hub repo id"):
        verify(str(built.out), VerifyOptions(repo_id=repo_id))


def test_cli_text_output_names_each_remote_problem(
    pushed: Built, hub_server: HubServer, hub_env: dict[str, str]
) -> None:
    shard = pushed.manifest.shards[2]
    hub_server.delete_file_direct(REPO, shard.path)
    command = [sys.executable, "-m", "nifti2parquet", "verify", str(pushed.out), "--repo", REPO]

    proc = subprocess.run(
        [*command, "-q"], env=hub_env, capture_output=True, text=True, timeout=300
    )

    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: 6 rows, 14 images, 3 shards, ")
    assert lines[0].endswith(f"files on the Hub ({REPO}@main): 1 problem")
    assert lines[1:] == [f"  {shard.path}: missing on the Hub ({REPO}@main)"]


# the listing push reuses -------------------------------------------------------------------------
def test_hub_files_lists_sizes_and_sha256(
    pushed: Built, hub_server: HubServer, hub_python: Runner
) -> None:
    listed = hub_python(
        """
        from huggingface_hub import HfApi
        from nifti2parquet.hub.remote import hub_files
        files = hub_files(HfApi(), ARGS["repo"])
        emit({p: [f.size, f.sha256, f.blob_id] for p, f in files.items()})
        """,
        repo=REPO,
    ).check()

    on_server = hub_server.repo_files(REPO)
    assert set(listed) == set(on_server)
    for shard in pushed.manifest.shards:
        assert listed[shard.path][:2] == [shard.size, shard.sha256]
    readme = (pushed.out / "README.md").read_bytes()
    assert listed["README.md"] == [len(readme), None, git_blob_id(readme)]
