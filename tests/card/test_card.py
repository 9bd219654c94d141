"""The dataset page: every section true for every layout and kind of source,
the user's own words where they asked for them, and none of their words lost.

Each card is built through the command line and checked against the data it describes, read
back from the shards with pyarrow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from bids_factory import sessions_tree
from factories import build_options, subject_table

from nifti2parquet.common.units import count


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nifti2parquet", *args], capture_output=True, text=True, timeout=300
    )


def build(*args: str) -> subprocess.CompletedProcess:
    result = run("build", *args, "-q", "--json")
    assert result.returncode == 0, result.stderr
    return result


def header(card: str) -> dict:
    return yaml.safe_load(card.split("---\n", 2)[1])


def section(card: str, title: str) -> str:
    return card.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def table_rows(text: str, first: str) -> list[list[str]]:
    """The rows of the markdown table whose header starts with ``| first |``."""
    lines = text.split(f"| {first} |", 1)[1].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def number(text: str) -> int:
    return int(text.replace(",", ""))


def name(cell: str) -> str:
    return re.match(r"`([^`]+)`", cell).group(1)


def images_in(table, column: str) -> tuple[int, int]:
    """(images, rows with at least one) of an image column, from the shards."""
    images = rows = 0
    for cell in table.column(column).to_pylist():
        n = len(cell) if isinstance(cell, list) else int(cell is not None)
        images += n
        rows += bool(n)
    return images, rows


@pytest.fixture(scope="module")
def bids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sessions_tree(tmp_path_factory.mktemp("bids")).root


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return subject_table(tmp_path_factory.mktemp("table"), subjects=3, runs=[1, 0, 2]).table


LAYOUTS = ["session", "subject", "file", "table"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_section_is_true_for_every_layout(
    layout: str, bids: Path, table: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    if layout == "table":
        summary = json.loads(build(str(table), str(out)).stdout)
    else:
        args = [str(bids), str(out), "--rows", layout, "--on-error", "skip"]
        summary = json.loads(build(*args).stdout)
    card = (out / "README.md").read_text()
    data = pq.read_table(out / "data")
    features = json.loads(data.schema.metadata[b"huggingface"])["info"]["features"]
    image_columns = [c for c, f in features.items() if "Nifti" in json.dumps(f)]

    # the YAML header and "What is in it": rows, images, shards
    infos = {i["config_name"]: i for i in header(card)["dataset_info"]}  # two configs
    [split] = infos["default"]["splits"]
    assert split["num_examples"] == data.num_rows
    # the files config: the header and "Every file" count what its shards hold
    files = pq.read_table(out / "files")
    [files_split] = infos["files"]["splits"]
    assert files_split["num_examples"] == files.num_rows
    stored = sum(1 for s in files.column("stored").to_pylist() if s == "files")
    tree = "the files" if layout == "table" else "the BIDS tree"
    every_file = section(card, f"Every file, and {tree} back")
    assert f"lists every file of the dataset ({files.num_rows:,})" in " ".join(every_file.split())
    assert f"not an image in the rows ({count(stored, 'file')}," in " ".join(every_file.split())
    counts = {c: images_in(data, c) for c in image_columns}
    total = sum(images for images, _ in counts.values())
    [contents] = table_rows(section(card, "What is in it"), "split")
    assert number(contents[1]) == data.num_rows and number(contents[2]) == total
    assert number(contents[4]) == len(list((out / "data").iterdir()))
    per_column = table_rows(section(card, "What is in it"), "column")
    assert {name(r[0]): number(r[1]) for r in per_column} == {c: n for c, (n, _) in counts.items()}

    # the schema: exactly the columns of the shards, in order
    schema = table_rows(section(card, "Schema"), "column")
    assert [name(r[0]) for r in schema] == data.column_names
    assert all(r[2] for r in schema if name(r[0]) in image_columns)  # images are described

    # the BIDS section: counts per column (or per kind), and only columns that exist
    if layout != "table":
        bids_text = section(card, "BIDS")
        if "each image column `K` has a `K_info` column" in bids_text:
            assert all(f"{c}_info" in data.column_names for c in image_columns)
        assert ("_info" in bids_text) == (layout != "file")
        first = "`kind`" if layout == "file" else "column"
        kinds = table_rows(bids_text, first)
        if layout == "file":
            real = Counter(data.column("kind").to_pylist())
            assert {name(r[0]): number(r[1]) for r in kinds} == dict(real)
            assert all(number(r[1]) > 0 for r in kinds)
        else:
            assert {name(r[0]): (number(r[1]), number(r[2])) for r in kinds} == counts
        assert f"One row per {'image file' if layout == 'file' else layout}" in bids_text

    # files left out: exactly the build's, each once, with its reason
    if summary["left_out"]:
        listed = table_rows(section(card, "Files left out"), "file")
        assert sorted(name(r[0]) for r in listed) == sorted(p["path"] for p in summary["left_out"])
    else:
        assert "## Files left out" not in card

    # the load snippet opens a row that has the image it shows
    match = re.search(r'row = ds\[(\d+)\]\nimg = row\["(\w+)"\]', card)
    assert match and data.column(match.group(2))[int(match.group(1))].as_py() is not None


def test_a_filtered_build_lists_what_it_left_out_by_folder(bids: Path, tmp_path: Path) -> None:
    """Item 10: `--subject 01` says how many files it filtered out and where (by folder, on the
    terminal and on the page); `--exclude` says each pattern and its count; `--json` lists each
    file with its reason."""
    out = tmp_path / "out"
    args = [str(bids), str(out), "--subject", "01", "--exclude", "extra/", "--exclude", "*.log"]
    result = run("build", *args, "-q", "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    left_out = json.loads(build(*args).stdout)["left_out"]
    filtered = [p for p in left_out if p["message"].startswith("filtered out")]
    excluded = [p for p in left_out if p["message"].startswith("excluded by --exclude")]
    assert len(filtered) >= 2 and [p["path"] for p in excluded] == ["extra/sub-01_T1w.nii.gz"]
    assert f"filtered out by --subject 01: {len(filtered)} files" in result.stderr
    assert "excluded: 1 file (--exclude 'extra/' 1, --exclude '*.log' 0)" in result.stderr
    assert f"({len(filtered)} filtered out, 1 excluded)" in result.stdout
    card = (out / "README.md").read_text()
    left = section(card, "Files left out")
    assert f"{len(filtered)} files of the source were filtered out by the build's selection " \
        "(`--subject 01`)" in left  # fmt: skip
    assert table_rows(left, "pattern") == [["`extra/`", "1"], ["`*.log`", "0"]]
    assert "Folders not read: `.git/` (version control)." in left


def test_a_tables_card_says_what_the_user_gives(table: Path, tmp_path: Path) -> None:
    """Item 7: title, description, citation (BibTeX), license name and column descriptions, from
    the command line and the table's sidecar; the Python API takes the same."""
    sidecar = table.with_suffix(".json")
    sidecar.write_text(json.dumps({"age": {"Description": "Age at scan", "Units": "years"}}))
    bib = tmp_path / "cite.bib"
    bib.write_text("@article{lab2026,\n  title = {Scans},\n  year = {2026}\n}\n")
    out = tmp_path / "out"
    args = ["--title", "Stroke scans", "--description", "Three subjects.", "--citation", f"@{bib}"]
    build(str(table), str(out), *args, "--license", "Lab Data License 1.0")
    card = (out / "README.md").read_text()
    assert header(card)["license"] == "other"
    assert header(card)["license_name"] == "lab-data-license-1.0"
    assert header(card)["pretty_name"] == "Stroke scans"
    assert "\n# Stroke scans\n\nThree subjects.\n" in card
    assert "```bibtex\n@article{lab2026,\n  title = {Scans},\n  year = {2026}\n}\n```" in card
    schema = {name(r[0]): r[2] for r in table_rows(section(card, "Schema"), "column")}
    assert schema["age"] == "Age at scan. Units: years."
    sidecar.unlink()

    from nifti2parquet import build as api_build

    described = tmp_path / "columns.json"
    described.write_text(json.dumps({"age": "Age in years"}))
    options = build_options(
        title="API title",
        citation="Cite the lab.",
        license="cc-by-4.0",
        license_name="unused",
        column_descriptions=str(described),
    )
    api_build(str(table), str(tmp_path / "api"), options)
    card = (tmp_path / "api" / "README.md").read_text()
    assert header(card)["license"] == "cc-by-4.0" and "license_name" not in header(card)
    assert "# API title" in card and "How to cite:\n\nCite the lab." in card
    assert "| `age` | `float64` | Age in years |" in card
    bad = run("build", str(table), str(tmp_path / "bad"), "--column-descriptions", str(bib))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_bids_card_details_still_come_from_the_dataset(bids: Path, tmp_path: Path) -> None:
    build(str(bids), str(tmp_path / "out"), "--on-error", "skip")
    card = (tmp_path / "out" / "README.md").read_text()
    description = json.loads((bids / "dataset_description.json").read_text())
    assert f"\n# {description['Name']}\n" in card
    assert "Age at first scan. Units: years." in card  # participants.json


def test_your_own_words_survive_rebuilds_and_a_hand_edit_is_never_lost(
    table: Path, tmp_path: Path
) -> None:
    """Item 8: CARD.md is in every card; an edited README.md is refused, not replaced."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "CARD.md").write_text("## Acquisition\n\nScanned at 3 T in 2025.\n")
    build(str(table), str(out))  # a folder holding only CARD.md is a new folder
    assert "## Acquisition\n\nScanned at 3 T in 2025.\n" in (out / "README.md").read_text()
    build(str(table), str(out))
    assert "Scanned at 3 T in 2025." in (out / "README.md").read_text()
    edited = (out / "README.md").read_text() + "\nMy own note.\n"
    (out / "README.md").write_text(edited)
    result = run("build", str(table), str(out), "-q")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "README.md: edited since nifti2parquet wrote it" in line and "CARD.md" in line
    assert (out / "README.md").read_text() == edited
    verify = run("verify", str(out))
    assert verify.returncode == 0, verify.stderr  # the YAML still agrees with the shards
