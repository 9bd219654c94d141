"""Tables of files as SOURCE: formats, image column detection, paths, cells, value types."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import subject_table, write_nifti

from nifti2parquet.common.errors import InputError, OptionError
from nifti2parquet.common.rows import FileRef
from nifti2parquet.common.storage import Storage
from nifti2parquet.sources.table.reader import read_table_source


def read(path: Path, **kw):
    return read_table_source(str(path), Storage(), **kw)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_every_format_gives_the_same_rows(tmp_path: Path, fmt: str) -> None:
    data = subject_table(tmp_path, subjects=3, runs=[2, 1, 0], missing_t1w=[1], fmt=fmt)
    rows = read(data.table)
    kinds = {c.name: c.content for c in rows.columns}
    assert kinds == {
        "subject_id": "value",
        "t1w": "image",
        "bold": "image_list",
        "age": "value",
        "group": "value",
    }
    by_name = {c.name: i for i, c in enumerate(rows.columns)}
    t1w = [row[by_name["t1w"]] for row in rows.rows]
    bold = [row[by_name["bold"]] for row in rows.rows]
    assert isinstance(t1w[0], FileRef) and t1w[1] is None and isinstance(t1w[2], FileRef)
    assert [len(b) for b in bold] == [2, 1, 0]  # [] stays an empty list
    assert t1w[0].url == str(tmp_path / "images" / "sub-01_T1w.nii.gz")  # resolved vs the table
    assert t1w[0].name == "images/sub-01_T1w.nii.gz"  # stored as the table wrote it
    assert t1w[0].size == (tmp_path / "images" / "sub-01_T1w.nii.gz").stat().st_size
    assert [row[by_name["age"]] for row in rows.rows] == [20.5, 21.5, 22.5]
    assert rows.files_found == 2 + 3 + 1  # 2 T1w (one missing cell), 3 BOLD runs, the table
    assert [f.name for f in rows.other_files] == [data.table.name]
    assert rows.image_count() + 1 == rows.files_found and not rows.left_out


def test_text_cells_are_typed_sensibly(tmp_path: Path) -> None:
    write_nifti(tmp_path / "a.nii.gz")
    write_nifti(tmp_path / "b.nii.gz", seed=1)
    (tmp_path / "t.csv").write_text(
        "id,img,n,x,flag,label,empty,mixed\n"
        "007,a.nii.gz,1,1.5,true,A,,1\n"
        "010,b.nii.gz,n/a,2,False,B,,x\n"
    )
    rows = read(tmp_path / "t.csv")
    types = {c.name: c.arrow_type for c in rows.columns if c.content == "value"}
    assert types == {
        "id": pa.string(),
        "n": pa.int64(),
        "x": pa.float64(),
        "flag": pa.bool_(),
        "label": pa.string(),
        "empty": pa.string(),
        "mixed": pa.string(),
    }
    assert [r[0] for r in rows.rows] == ["007", "010"]  # leading zeros are labels, kept as text
    assert [r[2] for r in rows.rows] == [1, None]  # n/a is null


def test_parquet_lists_and_types_are_kept(tmp_path: Path) -> None:
    for name in ("a.nii", "b.nii", "c.nii"):
        write_nifti(tmp_path / name, seed=len(name))
    table = pa.table(
        {
            "scan": pa.array([["a.nii", "b.nii"], [], None]),
            "weight": pa.array([1, 2, 3], pa.int32()),
            "when": pa.array([1, 2, 3], pa.timestamp("ms")),
            "tags": pa.array([["x"], ["y", "z"], []]),
            "c": pa.array(["c.nii", None, None]),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    rows = read(tmp_path / "t.parquet")
    kinds = {c.name: (c.content, c.arrow_type) for c in rows.columns}
    assert kinds["scan"] == ("image_list", None)
    assert kinds["c"] == ("image", None)
    assert kinds["weight"] == ("value", pa.int32())
    assert kinds["when"] == ("value", pa.timestamp("ms"))
    assert kinds["tags"] == ("value", pa.list_(pa.string()))
    assert [None if c is None else len(c) for c in (r[0] for r in rows.rows)] == [2, 0, None]


def test_image_column_can_be_named(tmp_path: Path) -> None:
    """A column with a non-NIfTI path is text unless named; naming it makes it an image column."""
    write_nifti(tmp_path / "a.nii.gz")
    (tmp_path / "scan.bin").write_bytes(b"x")
    (tmp_path / "t.csv").write_text("img,other\na.nii.gz,scan.bin\n")
    rows = read(tmp_path / "t.csv")
    assert [c.content for c in rows.columns] == ["image", "value"]
    rows = read(tmp_path / "t.csv", image_columns=["img", "other"])
    assert [c.content for c in rows.columns] == ["image", "image"]
    with pytest.raises(OptionError, match="no such column"):
        read(tmp_path / "t.csv", image_columns=["nope"])


def test_mixed_column_is_text_with_a_warning(tmp_path: Path) -> None:
    write_nifti(tmp_path / "a.nii.gz")
    (tmp_path / "t.csv").write_text("img,x\na.nii.gz,notes.txt\nb.txt,1\n")
    (tmp_path / "t2.csv").write_text("img,x\na.nii.gz,y.nii\n,oops\n")
    rows = read(tmp_path / "t2.csv")
    assert [c.content for c in rows.columns] == ["image", "value"]
    assert any("1 NIfTI paths and 1 other values" in w.message for w in rows.warnings)


def test_absolute_paths_and_home_are_resolved(tmp_path: Path, monkeypatch) -> None:
    image = write_nifti(tmp_path / "imgs" / "a.nii")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "sub").mkdir()
    table = tmp_path / "sub" / "t.jsonl"
    table.write_text(
        json.dumps({"img": str(image)}) + "\n" + json.dumps({"img": "~/imgs/a.nii"}) + "\n"
    )
    rows = read(table)
    urls = [r[0].url if r[0] else None for r in rows.rows]
    assert urls[0] == str(image)
    assert urls[1] == str(image) and not rows.left_out  # the same file, stored in each row
    assert [w.message.split(" (")[0] for w in rows.warnings] == [
        "1 file named in more than one cell"
    ]


def test_missing_and_duplicate_files_are_reported_not_dropped(tmp_path: Path) -> None:
    write_nifti(tmp_path / "a.nii.gz")
    (tmp_path / "t.csv").write_text(
        'img,runs\na.nii.gz,"[""gone.nii.gz""]"\nmissing.nii.gz,"[""a.nii.gz""]"\n'
    )
    rows = read(tmp_path / "t.csv")
    messages = {p.path: p.message for p in rows.left_out}
    assert messages["gone.nii.gz"].startswith("missing file (row 1, column runs)")
    assert messages["missing.nii.gz"].startswith("missing file (row 2, column img)")
    assert "a.nii.gz" not in messages  # named twice: stored in both cells
    assert rows.files_found == 5 and rows.image_count() == 2  # 4 cells and the table
    assert rows.files_found == rows.image_count() + len(rows.other_files) + len(rows.left_out)


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "empty"),
        ("a,a\nx.nii,y.nii\n", "duplicate column names: a"),
        ("a,b\nx.nii\n", "row 1 has 1 cells but the header has 2 columns"),
        ("a\n1\n", "no image columns"),
    ],
)
def test_malformed_tables_get_one_clear_message(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(InputError, match=message):
        read(tmp_path / "t.csv")


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"a": "x.nii"}\n{oops\n')
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        read(tmp_path / "t.jsonl")


def test_latin1_table_is_read_with_a_warning(tmp_path: Path) -> None:
    write_nifti(tmp_path / "a.nii")
    (tmp_path / "t.tsv").write_bytes("img\tsite\na.nii\tZürich\n".encode("latin-1"))
    rows = read(tmp_path / "t.tsv")
    assert rows.rows[0][1] == "Zürich"
    assert "not valid UTF-8" in rows.warnings[0].message and rows.warnings[0].path.endswith("t.tsv")
