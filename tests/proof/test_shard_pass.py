"""One read of a shard finds every stored value where pyarrow finds it, whatever the shape of the
cell, however the bytes arrive, and says so when a chunk is not framed the way it can walk.

Each test compares what the pass found (row, position in a list, size, sha256, first and last
bytes) with what pyarrow reads from the same shard: the build's own shards (one page per row),
and shards pyarrow wrote itself (many rows per page, null list elements, structs with a path and
no bytes), which the pass must walk too when they are uncompressed and PLAIN.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import build_options, nifti_bytes, subject_table

from nifti2parquet.commands.build import build
from nifti2parquet.common.schema import NIFTI_LIST_TYPE, NIFTI_TYPE
from nifti2parquet.proof.page_stream import HEAD, TAIL, ChunkWalker, Value
from nifti2parquet.proof.shard_pass import Pass, blob_leaves, read_once
from nifti2parquet.shards.manifest import read_manifest
from nifti2parquet.shards.output import OutputFolder

Found = tuple[int, str, int | None, int | None, str | None, bytes, bytes]  # row ... sha, head, tail


def expected_values(shard: Path, columns: list[str]) -> list[Found]:
    """Every present struct of ``columns``, read by pyarrow: (row, column, position, size,
    sha256, head, tail), sorted."""
    table = pq.read_table(shard, columns=columns)
    found = []
    for name in columns:
        for row, cell in enumerate(table.column(name).to_pylist()):
            items = list(enumerate(cell)) if isinstance(cell, list) else [(None, cell)]
            for index, item in items:
                if item is None:
                    continue
                data = item["bytes"]
                if data is None:
                    found.append((row, name, index, None, None, b"", b""))
                else:
                    sha = hashlib.sha256(data).hexdigest()
                    found.append((row, name, index, len(data), sha, data[:HEAD], data[-TAIL:]))
    return sorted(found, key=_order)


def _order(found: Found) -> tuple:
    return found[0], found[1], -1 if found[2] is None else found[2]


def passed_values(root: Path, shard: str, columns: list[str]) -> tuple[Pass, list[Found]]:
    metadata = pq.read_metadata(root / shard)
    starts = [0]
    for g in range(metadata.num_row_groups):
        starts.append(starts[-1] + metadata.row_group(g).num_rows)
    values: list[Value] = []
    done = read_once(
        OutputFolder(str(root)), shard, blob_leaves(metadata, columns), True, values.append
    )
    found = [
        (starts[v.group] + v.row, v.column, v.index, v.size, v.sha256, v.head, v.tail)
        for v in values
    ]
    return done, sorted(found, key=_order)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A build with several row groups per shard, lists (some empty) and missing images."""
    source = subject_table(
        tmp_path / "src", subjects=6, runs=[2, 1, 0, 3, 1, 2], missing_t1w=[2, 4]
    )
    out = tmp_path / "out"
    build(str(source.table), str(out), build_options(row_group_size=2_000, workers=1))
    return out


def test_the_build_shards_are_walked_to_the_end_and_agree_with_pyarrow(built: Path) -> None:
    manifest = read_manifest(OutputFolder(str(built)), "train")
    assert manifest is not None
    groups = 0
    for record in manifest.shards:
        done, found = passed_values(built, record.path, ["t1w", "bold"])
        assert found == expected_values(built / record.path, ["t1w", "bold"])
        assert done.sha256 == record.sha256 and done.size == record.size
        assert all(w.done for w in done.walkers), [w.failed for w in done.walkers]
        groups += record.num_row_groups
    assert groups >= 4, "several row groups"


def test_the_files_config_content_is_walked(built: Path) -> None:
    manifest = read_manifest(OutputFolder(str(built)), "train")
    assert manifest is not None and manifest.files is not None
    for record in manifest.files.shards:
        done, found = passed_values(built, record.path, ["content"])
        assert found == expected_values(built / record.path, ["content"])
        assert all(w.done for w in done.walkers)


def odd_cells_table() -> pa.Table:
    """Every shape a Nifti column can hold, in many rows: images, null images, structs with a
    path and no bytes, lists with null elements, empty and null lists, empty bytes."""
    images, lists = [], []
    for i in range(40):
        data = nifti_bytes(seed=i, shape=(3 + i % 4, 4, 3))
        kind = i % 5
        images.append(
            None
            if kind == 0
            else {"bytes": None, "path": f"p{i}.nii"}
            if kind == 1
            else {"bytes": b"" if kind == 2 else data, "path": f"i{i}.nii.gz"}
        )
        lists.append(
            None
            if kind == 0
            else []
            if kind == 1
            else [
                {"bytes": data, "path": "a"},
                None,
                {"bytes": None, "path": "b"},
                {"bytes": data[:9], "path": None},
            ]
        )
    return pa.table(
        {"image": pa.array(images, NIFTI_TYPE), "runs": pa.array(lists, NIFTI_LIST_TYPE)}
    )


@pytest.mark.parametrize("page_size", [1, 1_000, 1 << 20])
def test_pages_of_many_rows_written_by_pyarrow_are_walked(tmp_path: Path, page_size: int) -> None:
    pq.write_table(
        odd_cells_table(),
        tmp_path / "s.parquet",
        compression="none",
        use_dictionary=False,
        data_page_size=page_size,
        row_group_size=15,
        write_statistics=False,
    )
    done, found = passed_values(tmp_path, "s.parquet", ["image", "runs"])
    assert all(w.done for w in done.walkers), [w.failed for w in done.walkers]
    assert found == expected_values(tmp_path / "s.parquet", ["image", "runs"])
    assert {f[3] for f in found} >= {None, 0, 9}  # no bytes, empty bytes, a short value


@pytest.mark.parametrize("piece", [1, 3, 17, 4096])
def test_any_cut_of_the_bytes_finds_the_same_values(built: Path, piece: int) -> None:
    manifest = read_manifest(OutputFolder(str(built)), "train")
    assert manifest is not None
    path = built / manifest.shards[0].path
    data = path.read_bytes()
    for leaf in blob_leaves(pq.read_metadata(path), ["t1w", "bold"]):
        whole: list[Value] = []
        ChunkWalker(leaf, True, whole.append).feed(memoryview(data)[leaf.start : leaf.end])
        cut: list[Value] = []
        walker = ChunkWalker(leaf, True, cut.append)
        for start in range(leaf.start, leaf.end, piece):
            walker.feed(memoryview(data)[start : min(start + piece, leaf.end)])
        walker.finish()
        assert walker.done and cut == whole


@pytest.mark.parametrize(
    "options, reason",
    [
        ({"compression": "snappy", "use_dictionary": False}, "compressed pages"),
        ({"compression": "none", "use_dictionary": True}, "page type 2, not a v1 data page"),
        (
            {"compression": "none", "use_dictionary": False, "data_page_version": "2.0"},
            "page type 3",
        ),
    ],
)
def test_chunks_it_cannot_walk_are_refused_with_a_reason(
    tmp_path: Path, options: dict, reason: str
) -> None:
    pq.write_table(odd_cells_table(), tmp_path / "s.parquet", **options)
    done, _ = passed_values(tmp_path, "s.parquet", ["image"])
    assert done.walkers and not any(w.done for w in done.walkers)
    assert all(w.failed and w.failed.startswith(reason) for w in done.walkers), [
        w.failed for w in done.walkers
    ]
    assert done.sha256 == hashlib.sha256((tmp_path / "s.parquet").read_bytes()).hexdigest()


def test_a_chunk_cut_short_is_not_walked(built: Path) -> None:
    manifest = read_manifest(OutputFolder(str(built)), "train")
    assert manifest is not None
    path = built / manifest.shards[0].path
    data = path.read_bytes()
    leaf = blob_leaves(pq.read_metadata(path), ["t1w"])[0]
    walker = ChunkWalker(leaf, False)
    walker.feed(memoryview(data)[leaf.start : leaf.end - 1])
    walker.finish()
    assert walker.failed == "the chunk ends inside a page"
