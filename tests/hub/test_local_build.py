"""The local half of a push: the finished build read back, the card to push, the refusals.

In-process and offline: nothing here talks to a Hub.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nifti2parquet.card.header import read_card_header
from nifti2parquet.card.prose import CARD_RECORD, write_card
from nifti2parquet.card.published import publication
from nifti2parquet.card.readme import PLACEHOLDER_REPO, render_card
from nifti2parquet.commands.cli import main
from nifti2parquet.common.errors import OutputError
from nifti2parquet.hub.local_build import read_local_build
from nifti2parquet.hub.push import push
from nifti2parquet.shards.manifest import read_manifests
from nifti2parquet.shards.output import OutputFolder

REPO = "user/plan"


def test_card_is_rerendered_for_the_repo_id(out: Path) -> None:
    before = (out / "README.md").read_text()
    assert PLACEHOLDER_REPO in before
    local = read_local_build(OutputFolder(str(out)), "someone/brain-scans")
    card = local.card.decode()
    assert 'load_dataset("someone/brain-scans"' in card and PLACEHOLDER_REPO not in card
    assert card.split("---\n")[1] == before.split("---\n")[1]  # same YAML header
    assert len(local.shards) == 7 and not local.warnings


def test_a_hand_edited_card_is_pushed_as_it_is_but_for_the_repo_id(out: Path) -> None:
    written = (out / "README.md").read_text()
    edited = written + "\nThanks to every participant.\n"
    (out / "README.md").write_text(edited)
    local = read_local_build(OutputFolder(str(out)), REPO)
    placeholders = written.count(PLACEHOLDER_REPO)
    assert placeholders > 3 and PLACEHOLDER_REPO not in local.card.decode()
    assert local.card.decode() == edited.replace(PLACEHOLDER_REPO, REPO)
    [warning] = local.warnings
    assert (
        warning.path == "README.md" and "pushed as it is, but for USER/DATASET" in warning.message
    )
    assert "still" not in warning.message and local.card_edited
    assert (out / "README.md").read_text() == edited  # the edited file itself is not touched


def test_lines_edited_by_hand_that_still_hold_the_placeholder_are_named(out: Path) -> None:
    lines = (out / "README.md").read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if PLACEHOLDER_REPO in line)
    lines[first] = lines[first].replace("load_dataset(", "load_dataset( ")  # edited by hand
    lines.append(f"My note: see {PLACEHOLDER_REPO} for more.\n")
    (out / "README.md").write_text("".join(lines))
    local = read_local_build(OutputFolder(str(out)), REPO)
    card = local.card.decode().splitlines()
    assert [n for n, line in enumerate(card, 1) if PLACEHOLDER_REPO in line] == [
        first + 1,
        len(lines),
    ]
    [warning] = local.warnings
    assert f"lines {first + 1} and {len(lines)} still name USER/DATASET" in warning.message


def test_push_sends_exactly_what_the_build_publishes(out: Path) -> None:
    output = OutputFolder(str(out))
    local = read_local_build(output, REPO)
    assert [f.path for f in local.expected()] == list(publication(read_manifests(output)).paths)


def test_the_license_comes_from_the_record_never_from_the_card_text(out: Path) -> None:
    output = OutputFolder(str(out))
    manifests = read_manifests(output)
    write_card(output, render_card(manifests, "user/old", "MIT").encode(), "user/old", "MIT")
    local = read_local_build(output, REPO)
    assert read_card_header(local.card.decode())["license"] == "mit" and local.card_license == "MIT"
    assert 'load_dataset("user/plan"' in local.card.decode() and not local.warnings


def test_a_card_from_before_the_record_is_rerendered_unless_edited(out: Path) -> None:
    """A folder built by a version that recorded nothing about its README."""
    (out / CARD_RECORD).unlink()
    local = read_local_build(OutputFolder(str(out)), REPO)
    assert 'load_dataset("user/plan"' in local.card.decode() and not local.warnings
    edited = (out / "README.md").read_text() + "\nThanks to every participant.\n"
    (out / "README.md").write_text(edited)
    local = read_local_build(OutputFolder(str(out)), REPO)
    assert local.card.decode() == edited.replace(PLACEHOLDER_REPO, REPO)
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
