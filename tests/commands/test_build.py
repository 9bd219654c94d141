"""End to end: build a table source, then read the output the way users do.

Everything is checked with the real readers: `datasets` (both `load_dataset("parquet", ...)` and
`load_dataset(OUTPUT_DIR)`), DuckDB and Polars; decoded images against `nibabel.load` of the
source, stored bytes against the source files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import nibabel as nib
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from datasets import List, Nifti, Value, load_dataset
from factories import padded_nifti, sha256_file, subject_table, tree_bytes, write_nifti, write_table

from nifti2parquet import BuildOptions, build
from nifti2parquet.common.errors import InputError, OutputError


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """Four subjects: BOLD lists of 2, 1, 0 and 1 runs; subject 2 has no T1w."""
    root = tmp_path_factory.mktemp("src")
    data = subject_table(root, subjects=4, runs=[2, 1, 0, 1], missing_t1w=[1])
    out = tmp_path_factory.mktemp("out") / "dataset"
    result = build(
        str(data.table),
        str(out),
        BuildOptions(max_shard_size=25_000, row_group_size=10_000, workers=1),
    )
    return data, out, result


def test_load_dataset_gives_nifti_features_and_the_source_images(built) -> None:
    data, out, _ = built
    for ds in (
        load_dataset(str(out), split="train"),
        load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train"),
    ):
        assert ds.features["t1w"] == Nifti()
        assert ds.features["bold"] == List(Nifti())
        assert ds.features["age"] == Value("float64")
        assert ds["subject_id"] == [r["subject_id"] for r in data.rows]
        compared = 0
        for row, expected in zip(ds, data.rows):
            if expected["t1w"] is None:
                assert row["t1w"] is None  # a missing image stays None
            else:
                compared += assert_same_image(row["t1w"], data.table.parent / expected["t1w"])
            assert len(row["bold"]) == len(expected["bold"])  # [] stays []
            for image, path in zip(row["bold"], expected["bold"]):
                compared += assert_same_image(image, data.table.parent / path)
        assert compared == len(data.images()) == 7


def assert_same_image(image: nib.Nifti1Image, source: Path) -> int:
    reference = nib.load(source)
    assert isinstance(image, nib.Nifti1Image)
    assert image.shape == reference.shape
    assert np.array_equal(image.affine, reference.affine)
    assert np.array_equal(np.asarray(image.dataobj), np.asarray(reference.dataobj))
    return 1


def test_stored_bytes_are_the_files_exactly(built) -> None:
    data, out, _ = built
    ds = (
        load_dataset(str(out), split="train")
        .cast_column("t1w", Nifti(decode=False))
        .cast_column("bold", List(Nifti(decode=False)))
    )
    stored = [cell for row in ds for cell in ([row["t1w"]] if row["t1w"] else []) + row["bold"]]
    sources = [p for p in data.images()]
    order = {row["subject_id"]: i for i, row in enumerate(data.rows)}
    assert len(stored) == len(sources) == 7
    by_path = dict(zip(data.images_as_written(), sources))
    for cell in stored:  # stored under the path as the table wrote it
        assert hashlib.sha256(cell["bytes"]).hexdigest() == sha256_file(by_path[cell["path"]])
    assert order  # rows kept their order (checked above)


def test_duckdb_and_polars_read_the_shards(built) -> None:
    data, out, _ = built
    pattern = str(out / "data" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT subject_id, t1w.path, octet_length(t1w.bytes), len(bold), age "
        f"FROM '{pattern}' ORDER BY subject_id"
    ).fetchall()
    assert [r[0] for r in rows] == [r["subject_id"] for r in data.rows]
    assert rows[1][1:3] == (None, None)
    assert rows[0][2] == (data.table.parent / data.rows[0]["t1w"]).stat().st_size
    assert [r[3] for r in rows] == [2, 1, 0, 1]
    frame = pl.read_parquet(pattern).sort("subject_id")
    assert frame["age"].to_list() == [r["age"] for r in data.rows]
    lengths = frame.select(pl.col("bold").list.len()).to_series().to_list()
    assert lengths == [2, 1, 0, 1]
    first = frame["bold"][0][0]
    assert first["bytes"] == (data.table.parent / data.rows[0]["bold"][0]).read_bytes()


def test_output_is_laid_out_like_the_hub_repo(built) -> None:
    _, out, result = built
    visible = sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and ".nifti2parquet" not in p.parts
    )
    n = result.num_shards
    files = sorted(p.name for p in (out / "files").iterdir())  # the files config
    assert files and all(name.startswith("train-") for name in files)
    shards = [f"data/train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    previews = ["previews/train/bold.png", "previews/train/t1w.png"]  # the card's pictures
    assert visible == ["README.md", *shards, *(f"files/{name}" for name in files), *previews]
    assert n > 1
    assert not list((out / ".nifti2parquet" / "tmp").iterdir())  # no partial files left
    assert (out / ".nifti2parquet" / "train" / "manifest.json").is_file()


def test_summary_counts_add_up(built) -> None:
    data, _, result = built
    assert result.num_rows == 4
    assert result.files_found == result.num_images + result.other_files + len(result.left_out) == 8
    assert result.image_bytes == sum(p.stat().st_size for p in data.images())
    assert (
        result.verify
        and result.verify["ok"]
        and result.verify["checked"]["shards"] == result.num_shards
    )


@pytest.mark.parametrize(
    "threshold,row_group",
    [(60_000, 30_000), (150_000, 40_000), (400_000, 100_000), (1_000_000, 1_000_000)],
)
def test_shards_respect_the_threshold_with_mixed_sizes(
    tmp_path: Path, threshold: int, row_group: int
) -> None:
    """Many files of mixed sizes: every shard under the threshold, rows neither lost nor doubled."""
    rng = np.random.default_rng(threshold)
    rows = []
    for i in range(36):
        size = int(rng.choice([3_000, 20_000, 70_000, 180_000]))
        path = padded_nifti(tmp_path / "img" / f"s{i:03d}.nii.gz", size, seed=i)
        rows.append({"id": f"s{i:03d}", "scan": path.name and f"img/{path.name}"})
    write_table(tmp_path / "t.csv", rows)
    out = tmp_path / "out"
    result = build(
        str(tmp_path / "t.csv"),
        str(out),
        BuildOptions(max_shard_size=threshold, row_group_size=row_group, workers=1),
    )
    shards = sorted((out / "data").iterdir())
    assert len(shards) == result.num_shards
    ids = []
    for shard in shards:
        rows_in = pq.read_table(shard, columns=["id"]).column("id").to_pylist()
        if len(rows_in) > 1:
            assert shard.stat().st_size <= threshold
        ids += rows_in
    assert ids == [r["id"] for r in rows]
    oversized = [w for w in result.warnings if "alone is larger" in w.message]
    assert len(oversized) == sum(1 for s in shards if s.stat().st_size > threshold)


def test_two_builds_of_the_same_input_are_byte_identical(tmp_path: Path) -> None:
    data = subject_table(tmp_path / "src", subjects=5, runs=[1, 2, 0, 3, 1])
    options = BuildOptions(max_shard_size=20_000, row_group_size=8_000, workers=1)
    build(str(data.table), str(tmp_path / "a"), options)
    build(str(data.table), str(tmp_path / "b"), options)
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert a == b and len(a) > 2


def test_workers_give_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    data = subject_table(tmp_path / "src", subjects=6, runs=[1, 2, 0, 3, 1, 1])
    build(str(data.table), str(tmp_path / "one"), BuildOptions(max_shard_size=30_000, workers=1))
    build(str(data.table), str(tmp_path / "two"), BuildOptions(max_shard_size=30_000, workers=2))
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")


def test_refuses_a_file_of_2_gib_before_writing(tmp_path: Path) -> None:
    big = tmp_path / "big.nii"
    with open(big, "wb") as f:
        f.truncate(2**31)  # sparse: no disk used
    write_nifti(tmp_path / "ok.nii")
    (tmp_path / "t.csv").write_text("img\nbig.nii\nok.nii\n")
    with pytest.raises(InputError) as error:
        build(str(tmp_path / "t.csv"), str(tmp_path / "out"), BuildOptions(workers=1))
    assert any(p.path == "big.nii" and "2 GiB" in p.message for p in error.value.problems)
    assert (
        not (tmp_path / "out" / "data").exists() and not (tmp_path / "out" / "README.md").exists()
    )


def test_refuses_a_list_row_totalling_2_gib(tmp_path: Path) -> None:
    names = [sparse_nifti(tmp_path / f"run{i}.nii", 800_000_000) for i in range(3)]
    (tmp_path / "t.jsonl").write_text('{"bold": ["run0.nii", "run1.nii", "run2.nii"]}\n')
    with pytest.raises(InputError, match="cannot be stored in Parquet") as error:
        build(str(tmp_path / "t.jsonl"), str(tmp_path / "out"), BuildOptions(workers=1))
    assert "must stay under 2 GiB" in error.value.problems[0].message
    assert len(names) == 3 and not (tmp_path / "out" / "data").exists()


def sparse_nifti(path: Path, size: int) -> Path:
    """A valid raw NIfTI header followed by a sparse (zero) body of about ``size`` bytes."""
    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape((256, 256, (size - 352) // 65536))
    header["vox_offset"] = 352
    with open(path, "wb") as f:
        f.write(header.binaryblock + b"\0" * 4)
        f.truncate(352 + 65536 * ((size - 352) // 65536))
    return path


def test_nifti2_is_stored_with_a_warning(tmp_path: Path) -> None:
    write_nifti(tmp_path / "v2.nii.gz", version=2)
    (tmp_path / "t.csv").write_text("img\nv2.nii.gz\n")
    result = build(str(tmp_path / "t.csv"), str(tmp_path / "out"), BuildOptions(workers=1))
    assert result.num_images == 1
    assert any(w.path == "v2.nii.gz" and "NIfTI-2" in w.message for w in result.warnings)


def test_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    data = subject_table(tmp_path / "src", subjects=1, runs=[0])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.docx").write_text("precious")
    with pytest.raises(OutputError, match="not empty and was not made by nifti2parquet"):
        build(str(data.table), str(tmp_path / "out"), BuildOptions(workers=1))
    assert os.listdir(tmp_path / "out") == ["thesis.docx"]


def test_rebuild_after_input_change_rewrites_and_drops_stale_shards(tmp_path: Path) -> None:
    """Same folder, fewer rows: the shards of the old plan are gone, the card tells the truth."""
    data = subject_table(tmp_path / "src", subjects=6, runs=[1] * 6)
    out = tmp_path / "out"
    first = build(str(data.table), str(out), BuildOptions(max_shard_size=25_000, workers=1))
    write_table(data.table, data.rows[:2])
    second = build(str(data.table), str(out), BuildOptions(max_shard_size=25_000, workers=1))
    assert first.num_shards > second.num_shards
    names = sorted(p.name for p in (out / "data").iterdir())
    assert names == [
        f"train-{i:05d}-of-{second.num_shards:05d}.parquet" for i in range(second.num_shards)
    ]
    assert load_dataset(str(out), split="train").num_rows == 2


def test_more_shards_than_the_hub_allows_in_a_folder_is_warned() -> None:
    """10,001 one-row shards: the build says so before push would hit the Hub's folder limit."""
    from factories import fake_rows

    from nifti2parquet.commands.build import _hub_folder_warning
    from nifti2parquet.shards.plan import PlanOptions, plan_shards

    plan = plan_shards(fake_rows([[50_000]] * 10_001), PlanOptions(max_shard_size=60_000))
    [warning] = _hub_folder_warning(plan)
    assert warning.severity == "warning"
    assert warning.message.startswith("10,001 shards in data/: the Hub accepts at most 10,000")
    small = plan_shards(fake_rows([[50_000]] * 10), PlanOptions(max_shard_size=60_000))
    assert _hub_folder_warning(small) == ()
