"""The card reads as the dataset's authors wrote it and says nothing that is not so: a plain-text
README keeps every line (rendered by a CommonMark renderer, as the Hub renders the page), a
Markdown one stays Markdown, the citation has no year the dataset does not give, example commands
name a subject that exists, and readers are told how to install nifti2parquet from its
repository when PyPI has no such package."""

from __future__ import annotations

import html
import importlib.metadata
import re
from pathlib import Path

import pyarrow.parquet as pq
from bids_factory import BidsTree
from click.testing import CliRunner
from factories import build_options
from markdown_it import MarkdownIt

from nifti2parquet import build
from nifti2parquet.card.plain_text import as_markdown, looks_like_markdown
from nifti2parquet.commands.cli import main

# A plain-text README as many BIDS datasets have one: a citation indented by spaces, folder
# names underlined with dashes, an aligned table with its header apart, Markdown-like symbols.
PLAIN_README = """\
Face processing dataset: sMRI+fMRI, 2 subjects.

Please cite the following reference if you use these data:

     Author, A.B. & Author, C. (2015). A *multi-modal* dataset. Sci. Data 2:150001

   Other, D. (2011). A [framework] for <inverse> problems. 5, 76, 1-16.

func/
-----
Event onsets refer to t=0 at the start of the third volume_

Trigger            Label                      Simplified

5         Initial Famous Face               FAMOUS
13        Initial Unfamiliar Face           UNFAMILIAR
# not a heading, and 1. not a list
- nor this | a | table
=====================
"""


def rendered_lines(markdown: str) -> list[str]:
    """The text lines a CommonMark renderer shows for ``markdown`` (tags out, entities in)."""
    page = MarkdownIt("commonmark").render(markdown)
    text = html.unescape(re.sub(r"<[^>]+>", "", page)).replace("\xa0", " ")
    return [line.rstrip() for line in text.splitlines()]


def readme_tree(root: Path, readme: str = PLAIN_README, name: str = "README", **files: str):
    t = BidsTree(root)
    t.description(Name="Faces", Authors=["A. Author"], DatasetDOI="10.18112/openneuro.ds1.v1")
    t.text(name, readme)
    for rel, text in files.items():
        t.text(rel, text)
    t.image("sub-M2001/anat/sub-M2001_T1w.nii.gz")
    t.image("sub-M2002/anat/sub-M2002_T1w.nii.gz")
    return t


def card_of(tmp_path: Path, tree: BidsTree, **options) -> str:
    out = tmp_path / "out"
    build(str(tree.root), str(out), build_options(previews=False, **options))
    return (out / "README.md").read_text()


def body(card: str) -> str:
    return card.split("\n---\n", 1)[1]


def test_a_plain_text_readme_renders_with_every_line_intact(tmp_path: Path) -> None:
    card = card_of(tmp_path, readme_tree(tmp_path / "bids"))
    shown = rendered_lines(body(card))
    lines = [line.rstrip() for line in PLAIN_README.splitlines() if line.strip()]
    for line in lines:
        # each line is a line of the page, with its indentation (the table keeps its columns)
        assert line in shown, line
    page = MarkdownIt("commonmark").render(body(card))
    readme_part = page.split("<h2>What is in it</h2>", 1)[0]
    assert readme_part.count("<h") == 1  # the card's title only: func/ is not a heading
    assert "<em>" not in readme_part and "<a " not in readme_part and "<ol>" not in readme_part
    assert "<pre><code" in readme_part  # the aligned table is preformatted
    assert "<code>" not in readme_part.replace("<pre><code", "")  # citations are not code


def test_a_markdown_readme_stays_markdown(tmp_path: Path) -> None:
    readme = "# Faces\n\nSee [the paper](https://example.org/p).\n\n## Methods\n\n- *fast*\n"
    for name in ("README.md", "README"):  # by its extension, or by its look
        tree = readme_tree(tmp_path / name, readme, name)
        page = MarkdownIt("commonmark").render(body(card_of(tmp_path / f"{name}.out", tree)))
        assert "<h2>Methods</h2>" in page and '<a href="https://example.org/p">' in page
        assert "<em>fast</em>" in page


def test_a_readme_named_txt_is_plain_text_even_when_it_looks_like_markdown() -> None:
    text = "# 1 subject\nsee [x](y)\n"
    assert looks_like_markdown(text)
    assert rendered_lines(as_markdown(text, "text"))[:2] == ["# 1 subject", "see [x](y)"]


def test_the_description_option_keeps_a_plain_text_files_lines(tmp_path: Path) -> None:
    about = tmp_path / "about.txt"
    about.write_text(PLAIN_README + "see [x](y) for more\n")  # .txt: plain text, whatever it has
    tree = readme_tree(tmp_path / "bids", "A README the option replaces.\n")
    out = tmp_path / "out"
    args = [str(tree.root), str(out), "--description", f"@{about}", "--no-previews", "-q"]
    assert CliRunner().invoke(main, ["build", *args]).exit_code == 0
    card = (out / "README.md").read_text()
    assert "A README the option replaces" not in card
    assert "see [x](y) for more" in rendered_lines(body(card))
    shown = rendered_lines(body(card))
    assert (
        "     Author, A.B. & Author, C. (2015). A *multi-modal* dataset. Sci. Data 2:150001"
        in shown
    )


def bibtex(card: str) -> str:
    return card.split("```bibtex\n", 1)[1].split("```", 1)[0]


def test_no_citation_year_without_a_source(tmp_path: Path) -> None:
    card = card_of(tmp_path, readme_tree(tmp_path / "bids"))
    assert "doi = {10.18112/openneuro.ds1.v1}" in bibtex(card)
    assert "year" not in bibtex(card) and "The year is" not in card


def test_the_year_comes_from_changes_and_the_card_says_so(tmp_path: Path) -> None:
    changes = "1.0.1 2014-02-03\n  - Fixed events\n\n1.0.0 2012-05-04\n  - Initial release\n"
    card = card_of(tmp_path, readme_tree(tmp_path / "bids", CHANGES=changes))
    assert "  year = {2014}," in bibtex(card)
    assert "The year is the dataset's own, from CHANGES (version 1.0.1 of 2014-02-03)." in card


def test_citation_cff_date_released_comes_before_changes(tmp_path: Path) -> None:
    cff = "cff-version: 1.2.0\ntitle: Faces\ndate-released: 2013-07-01\n"
    tree = readme_tree(tmp_path / "bids", **{"CITATION.cff": cff, "CHANGES": "2.0 2020-01-01\n"})
    card = card_of(tmp_path, tree)
    assert "  year = {2013}," in bibtex(card)
    assert "from CITATION.cff (date-released 2013-07-01)" in card


def test_every_example_subject_exists(tmp_path: Path) -> None:
    card = card_of(tmp_path, readme_tree(tmp_path / "bids"))
    subjects = set(pq.read_table(tmp_path / "out" / "data").column("subject_id").to_pylist())
    named = re.findall(r"--subject (\S+)", card)
    assert named and all(f"sub-{label}" in subjects for label in named), named


def test_readers_are_told_how_to_install_from_the_repository(tmp_path: Path) -> None:
    card = card_of(tmp_path, readme_tree(tmp_path / "bids"))
    urls = importlib.metadata.metadata("nifti2parquet").get_all("Project-URL")
    repository = next(u.split(",", 1)[1].strip() for u in urls if u.startswith("Repository"))
    assert "pip install nifti2parquet\n" in card
    assert f"install it from its repository: `pip install git+{repository}`" in card


def test_every_snippet_names_what_it_needs(tmp_path: Path) -> None:
    card = card_of(tmp_path, readme_tree(tmp_path / "bids"))
    assert "DuckDB (`pip install duckdb`" in card and "Polars (`pip install polars`)" in card
