"""The record of the README nifti2parquet wrote: its sha256 (hand edits are noticed), and the repo
id and license it was rendered for, written by build and push and read back, never parsed out of
the card's text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import subject_table

from nifti2parquet.card.prose import (
    CARD_RECORD,
    CardRecord,
    card_edited,
    read_card_record,
    write_card,
)
from nifti2parquet.commands.build import BuildOptions, build
from nifti2parquet.shards.output import OutputFolder


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return subject_table(tmp_path_factory.mktemp("table"), subjects=2, runs=[1, 0]).table


def test_build_records_the_repo_id_it_rendered_the_card_for(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(str(table), str(out), BuildOptions(repo_id="my-lab/scans", previews=False))
    record = json.loads((out / CARD_RECORD).read_text())
    card = (out / "README.md").read_bytes()
    assert record["repo_id"] == "my-lab/scans" and record["license"] == ""
    assert read_card_record(OutputFolder(str(out))) == CardRecord(record["sha256"], "my-lab/scans")
    assert read_card_record(OutputFolder(str(out))).written(card)


def test_a_build_without_a_repo_id_records_the_placeholder(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(str(table), str(out), BuildOptions(previews=False))
    record = read_card_record(OutputFolder(str(out)))
    assert record is not None and record.repo_id is None and record.license == ""


def test_write_card_records_what_it_was_given(tmp_path: Path) -> None:
    output = OutputFolder(str(tmp_path))
    record = write_card(output, b"---\nlicense: mit\n---\n\n# x\n", "user/x", "mit")
    assert read_card_record(output) == record == CardRecord(record.sha256, "user/x", "mit")
    assert not card_edited(output)
    (tmp_path / "README.md").write_text("# my own card\n")
    assert card_edited(output)


@pytest.mark.parametrize("text", [None, "not json", '{"repo_id": "user/x"}'])
def test_no_readable_record_is_none(tmp_path: Path, text: str | None) -> None:
    output = OutputFolder(str(tmp_path))
    (tmp_path / "README.md").write_text("# a card\n")
    if text is not None:
        (tmp_path / ".nifti2parquet").mkdir()
        (tmp_path / CARD_RECORD).write_text(text)
    assert read_card_record(output) is None
    assert not card_edited(output)  # an older folder's card is taken as unedited here
