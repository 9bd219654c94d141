"""Our framing of NIfTI ``bytes`` pages, read back by pyarrow, DuckDB and Polars."""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from factories import write_nifti

from nifti2parquet.common.rows import Column, FileRef
from nifti2parquet.common.schema import NIFTI_LIST_TYPE, NIFTI_TYPE
from nifti2parquet.common.storage import Storage
from nifti2parquet.shards import thrift
from nifti2parquet.shards.pages import ChunkPages, page_header, row_levels, row_page
from nifti2parquet.shards.plan import RowGroupPlan, ShardPlan
from nifti2parquet.shards.writer import (
    ShardTask,
    _ImageKeys,
    _placeholder_lists,
    _placeholders,
    write_shard,
)


def test_levels_of_each_kind_of_cell():
    img = FileRef("/x.nii", 10, "x.nii", "x.nii")
    assert row_levels(img, 0, 2) == ([], [2])
    assert row_levels(None, 0, 2) == ([], [0])
    assert row_levels(None, 1, 4) == ([0], [0])
    assert row_levels((), 1, 4) == ([0], [1])
    assert row_levels((img, img, img), 1, 4) == ([0, 1, 1], [4, 4, 4])


def test_a_page_header_says_its_size_and_level_count():
    img = FileRef("/x.nii", 1000, "x.nii", "x.nii")
    page = row_page((img, img), 1, 4, first_row=3)
    header, end = thrift.decode(page.head)
    body = page.size - end
    assert header.get(2) == header.get(3) == body
    assert header.get(5).get(1) == 2  # two levels: two images
    assert page.value_bytes == 2000 and page.levels == 2 and page.first_row == 3


def test_a_page_header_is_thrift_s_encoding_of_its_struct():
    for body, values in ((0, 0), (1, 1), (63, 2), (64, 3), (2**31 - 1, 10**6)):
        header = thrift.Struct().set(1, thrift.I32, 0).set(2, thrift.I32, body)
        data_page = thrift.Struct().set(1, thrift.I32, values).set(2, thrift.I32, 0)
        data_page.set(3, thrift.I32, 3).set(4, thrift.I32, 3)
        header.set(3, thrift.I32, body).set(5, thrift.STRUCT, data_page)
        assert page_header(body, values) == thrift.encode(header)


def test_an_offset_index_built_page_by_page_is_thrift_s_encoding():
    """Short lists and long ones (15 or more pages: another list header), offsets past 2**31."""
    for count in (1, 14, 15, 300):
        start = 3 << 31
        pages = ChunkPages(start)
        locations, sizes, position = [], [], start
        for r in range(count):
            images = tuple(FileRef("/x.nii", 100 * r + k, "x.nii", "x.nii") for k in range(r % 3))
            page = row_page(images, 1, 4, first_row=r)
            pages.add(page)
            location = thrift.Struct().set(1, thrift.I64, position).set(2, thrift.I32, page.size)
            locations.append(location.set(3, thrift.I64, r))
            sizes.append(page.value_bytes)
            position += page.size
        index = thrift.Struct().set(1, thrift.LIST, thrift.List(thrift.STRUCT, locations))
        index.set(2, thrift.LIST, thrift.List(thrift.I64, sizes))
        assert pages.offset_index() == thrift.encode(index)
        assert (pages.count, pages.position, pages.value_bytes) == (count, position, sum(sizes))


def test_placeholders_are_the_arrays_of_their_dicts():
    """Built column by column, the placeholders are buffer for buffer what ``pa.array`` makes of
    one dict per cell (so pyarrow writes the same skeleton)."""

    def buffers(array):
        return [b and b.to_pybytes() for b in array.buffers()]

    def img(n):
        return FileRef(f"/{n}", 1, n, n)

    for images in ([img("a"), None, img("c"), None], [img("a"), img("b")], [None], []):
        made = _placeholders(images)
        dicts = [None if i is None else {"bytes": b"", "path": i.name} for i in images]
        assert buffers(made) == buffers(pa.array(dicts, NIFTI_TYPE))
    for cells in ([(img("a"), img("b")), None, (), (img("z"),), None], [(img("a"),)], [()]):
        made = _placeholder_lists(cells)
        lists = [None if c is None else [{"bytes": b"", "path": i.name} for i in c] for c in cells]
        assert buffers(made) == buffers(pa.array(lists, NIFTI_LIST_TYPE))


def test_images_are_put_in_row_order_alike_with_and_without_numpy(monkeypatch):
    """A small shard's images are sorted in Python (a build without previews imports no numpy),
    a large one's by numpy: the same order either way, ties kept in file order."""
    keys = _ImageKeys()
    rng = random.Random(7)
    for _ in range(2000):
        keys.add(rng.randrange(50), rng.randrange(3), rng.randrange(4))
    import numpy  # noqa: F401 - loaded: the writer sorts with it

    by_numpy = keys.row_order()
    monkeypatch.delitem(sys.modules, "numpy")
    in_python = keys.row_order()
    assert in_python == by_numpy
    expected = sorted(range(2000), key=lambda i: (keys._rows[i], keys._columns[i]))
    assert [(keys._rows[i], keys._columns[i]) for i in in_python] == [
        (keys._rows[i], keys._columns[i]) for i in expected
    ]


def _image(tmp_path, name, seed):
    path = write_nifti(tmp_path / name, seed=seed, shape=(4 + seed, 5, 3))
    return FileRef(str(path), path.stat().st_size, name, name)


def test_mixed_cells_read_back_in_every_reader(tmp_path):
    imgs = [_image(tmp_path, f"i{k}.nii", k) for k in range(6)]
    columns = (
        Column("id", "value", pa.string()),
        Column("t1w", "image"),
        Column("bold", "image_list"),
    )
    rows = (
        ("a", imgs[0], (imgs[1], imgs[2])),
        ("b", None, ()),
        ("c", imgs[3], None),
        ("d", imgs[4], (imgs[5],)),
        ("e", None, None),
    )
    groups = (RowGroupPlan(0, 2, 10**9), RowGroupPlan(2, 5, 10**9))
    shard = ShardPlan(0, 1, "train", groups, 10**9)
    out = tmp_path / "s.parquet"
    result = write_shard(ShardTask(shard, columns, rows, str(out), Storage()))
    assert result.size == out.stat().st_size and len(result.image_sha256) == 6

    table = pq.read_table(out)
    source = {img.name: Path(img.url).read_bytes() for img in imgs}
    t1w = [c and (c["path"], c["bytes"]) for c in table["t1w"].to_pylist()]
    assert t1w == [
        ("i0.nii", source["i0.nii"]),
        None,
        ("i3.nii", source["i3.nii"]),
        ("i4.nii", source["i4.nii"]),
        None,
    ]
    bold = [c if c is None else [x["bytes"] for x in c] for c in table["bold"].to_pylist()]
    assert bold == [[source["i1.nii"], source["i2.nii"]], [], None, [source["i5.nii"]], None]

    sizes = duckdb.sql(f"select octet_length(t1w.bytes), len(bold) from '{out}'").fetchall()
    assert sizes == [
        (len(source["i0.nii"]), 2),
        (None, 0),
        (len(source["i3.nii"]), None),
        (len(source["i4.nii"]), 1),
        (None, None),
    ]
    polars = pl.read_parquet(out)["t1w"].struct.field("bytes").to_list()
    assert polars == [c and c[1] for c in t1w]
    # one page per row in every NIfTI bytes chunk, as its offset index says
    data = out.read_bytes()
    footer, _ = thrift.decode(data, len(data) - 8 - struct.unpack("<I", data[-8:-4])[0])
    pages = {}
    for g, group in enumerate(footer.get(4).items):
        for chunk in group.get(1).items:
            path = b".".join(chunk.get(3).get(3).items).decode()
            index, _ = thrift.decode(data, chunk.get(4))
            pages[g, path] = len(index.get(1).items)
    for g, rows_in_group in enumerate((2, 3)):
        assert pages[g, "t1w.bytes"] == pages[g, "bold.list.element.bytes"] == rows_in_group
