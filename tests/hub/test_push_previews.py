"""``push`` carries the card's pictures and the user's words: the
previews land on the Hub with the README that links them, ``verify --repo`` checks them, and a
hand-edited README is pushed as it is, with a warning, never replaced."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hubserver import HubServer
from pushtools import assert_remote_is, build_dataset, copy_build, ok, remote_tree, run_push

REPO = "user/pictures"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("pictures"), subjects=3, previews=True)


def test_previews_are_pushed_and_verified(
    hub_server: HubServer, hub_env: dict[str, str], template: Path, tmp_path: Path
) -> None:
    out = copy_build(template, tmp_path / "out")
    (out / "CARD.md").write_text("Scanned at 3 T.\n")
    previews = sorted(out.glob("previews/train/*.png"))
    assert previews
    dry = run_push(hub_env, out, REPO, "--dry-run")
    assert ok(dry).stdout.count("upload  previews/train/") == len(previews)
    result = ok(run_push(hub_env, out, REPO, "--json"))
    assert f"and {len(previews)} previews" in json.loads(result.stdout)["summary"]
    remote = remote_tree(hub_server, REPO)
    for png in previews:
        path = str(png.relative_to(out))
        assert remote[path] == (png.stat().st_size, hashlib.sha256(png.read_bytes()).hexdigest())
    card = hub_server.read_file(REPO, "README.md").decode()
    assert "Scanned at 3 T." in card  # the user's words, in the pushed card
    for png in previews:
        assert f"]({png.relative_to(out)})" in card  # relative links: the Hub page renders them
    assert_remote_is(hub_server, REPO, out)
    verify = subprocess.run(
        [sys.executable, "-m", "nifti2parquet", "verify", str(out), "--repo", REPO, "--json"],
        env=hub_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stderr
    report = json.loads(verify.stdout)
    shards = len(list((out / "data").iterdir())) + len(list((out / "files").iterdir()))
    assert report["checked"]["remote_files"] == shards + len(previews) + 1
    again = ok(run_push(hub_env, out, REPO))
    assert "nothing to push" in again.stdout


def test_a_hand_edited_readme_is_pushed_as_it_is_with_a_warning(
    hub_server: HubServer, hub_env: dict[str, str], template: Path, tmp_path: Path
) -> None:
    out = copy_build(template, tmp_path / "out")
    edited = (out / "README.md").read_text() + "\nMy own note.\n"
    (out / "README.md").write_text(edited)
    result = ok(run_push(hub_env, out, REPO))
    assert "warning: README.md: edited since nifti2parquet wrote it: pushed as it is" in (
        result.stderr
    )
    assert (out / "README.md").read_text() == edited
    assert hub_server.read_file(REPO, "README.md").decode() == edited.replace("USER/DATASET", REPO)
