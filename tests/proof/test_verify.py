"""``verify`` on a local build: every kind of damage is caught and named, and an intact dataset
reports exactly how much it checked.

Each test builds a small dataset from real NIfTI files (``factories.subject_table``), damages it
the way it happens in practice, and checks what a user would read: the summary line, the problem
naming the file (and row and column), and the exit code.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from factories import TableDataset, build_options, source_options, subject_table, write_nifti

from nifti2parquet.commands.build import build
from nifti2parquet.commands.cli import main
from nifti2parquet.common.units import count, format_size
from nifti2parquet.proof import shard_digest as scan
from nifti2parquet.proof.report import VerifyOptions, VerifyReport
from nifti2parquet.proof.verify import verify, verify_footers
from nifti2parquet.shards.image_index import ImageRecord, read_images
from nifti2parquet.shards.manifest import Manifest, read_manifest
from nifti2parquet.shards.output import OutputFolder

RUNS = [2, 1, 0, 3, 1, 2]  # BOLD runs per subject: 9 runs, one subject with []
MISSING_T1W = [2]  # five T1w images


@dataclass
class Built:
    """A finished build and what it was built from."""

    source: TableDataset
    out: Path
    manifest: Manifest
    records: list[ImageRecord]

    def shard(self, i: int) -> Path:
        return self.out / self.manifest.shards[i].path

    def shards(self) -> list[Path]:
        return [self.out / s.path for s in self.manifest.shards]

    def record(self, shard: int, column: str, index: int | None = None) -> ImageRecord:
        """The first image of ``column`` (list position ``index``) stored in shard ``shard``."""
        path = self.manifest.shards[shard].path
        return next(
            r for r in self.records if r.shard == path and r.column == column and r.index == index
        )


def build_dataset(root: Path, max_shard_size: int = 20_000) -> Built:
    source = subject_table(root / "src", subjects=6, runs=RUNS, missing_t1w=MISSING_T1W)
    out = root / "out"
    build(str(source.table), str(out), build_options(max_shard_size=max_shard_size, workers=1))
    folder = OutputFolder(str(out))
    manifest = read_manifest(folder, "train")
    assert manifest is not None
    return Built(source, out, manifest, read_images(folder, "train"))


@pytest.fixture
def built(tmp_path: Path) -> Built:
    data = build_dataset(tmp_path)
    assert len(data.manifest.shards) >= 3, "the damage tests need several shards"
    return data


def messages(report: VerifyReport, path: str | None = None) -> list[str]:
    return [p.message for p in report.problems if path is None or p.path == path]


def rel(built: Built, path: Path) -> str:
    return str(path.relative_to(built.out))


# everything fine ---------------------------------------------------------------------------------
def test_intact_dataset_reports_exact_counts(built: Built) -> None:
    report = verify(str(built.out))

    images = built.source.images()
    shard_bytes = sum(p.stat().st_size for p in built.shards())
    assert report.ok, report.problems
    assert len(images) == 14  # 5 T1w + 9 BOLD runs
    assert report.counts["rows"] == 6
    assert report.counts["images"] == 14
    assert report.counts["images_matched"] == 14
    assert report.counts["image_bytes"] == sum(p.stat().st_size for p in images)
    assert report.counts["shards"] == report.counts["shards_hashed"] == len(built.shards())
    assert report.counts["shard_bytes"] == shard_bytes
    assert report.counts["row_groups"] == sum(s.num_row_groups for s in built.manifest.shards)
    assert report.counts["cards"] == 1
    assert report.counts["files"] == 15  # the files config: 14 images and the table
    assert report.summary() == (
        f"6 rows, 14 images, {len(built.shards())} shards, {format_size(shard_bytes)}, "
        f"15 files in the 'files' config: OK"
    )


def test_deep_and_source_count_what_they_checked(built: Built) -> None:
    options = VerifyOptions(deep=True, source=str(built.source.table), threads=2)
    report = verify(str(built.out), options)

    assert report.ok, report.problems
    assert report.counts["images_decoded"] == 14
    assert report.counts["source_files"] == 15  # the 14 images and the table itself
    table = built.source.table.stat().st_size
    assert report.counts["source_bytes"] == table + sum(
        p.stat().st_size for p in built.source.images()
    )
    assert ", 15 source files: OK" in report.summary()


def test_source_recorded_by_the_build_is_the_default(built: Built) -> None:
    report = verify(str(built.out), VerifyOptions(source=""))
    assert report.ok, report.problems
    assert report.counts["source_files"] == 15


def test_one_thread_and_many_threads_agree(built: Built) -> None:
    one = verify(str(built.out), VerifyOptions(threads=1))
    many = verify(str(built.out), VerifyOptions(threads=8))
    assert one.to_dict() == many.to_dict()


def test_row_groups_read_in_batches_of_one_row_agree(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory is bounded by reading row groups in batches; the batch size changes nothing."""
    whole = verify(str(built.out))
    monkeypatch.setattr(scan, "BATCH_BYTES", 1)
    assert verify(str(built.out)).to_dict() == whole.to_dict()


def test_an_empty_folder_never_passes(tmp_path: Path) -> None:
    report = verify(str(tmp_path))
    assert not report.ok
    assert messages(report) == ["no finished nifti2parquet build in this folder"]
    assert report.summary() == "0 rows, 0 images, 0 shards, 0 B: 1 problem"


def test_build_runs_the_footer_checks(built: Built) -> None:
    report = verify_footers(OutputFolder(str(built.out)))
    assert report.ok
    assert report.counts["rows"] == 6
    assert report.counts["shards"] == len(built.shards())
    assert "shards_hashed" not in report.counts  # footers only: no shard was read through


# damage to shards --------------------------------------------------------------------------------
def test_truncated_shard(built: Built) -> None:
    shard = built.shard(1)
    size = shard.stat().st_size
    with open(shard, "r+b") as f:
        f.truncate(size // 2)

    report = verify(str(built.out))

    assert not report.ok
    found = messages(report, rel(built, shard))
    assert f"size is {size // 2:,} bytes, the build recorded {size:,}" in found
    assert any(m.startswith("not a readable Parquet file") for m in found)
    assert all(p.path in (rel(built, shard), "README.md") for p in report.problems)


def flip_byte_inside(shard: Path, image: bytes) -> int:
    """Flip one byte in the middle of ``image`` where the shard stores it; the shard's offset."""
    data = bytearray(shard.read_bytes())
    start = data.find(image)
    assert start >= 0 and data.find(image, start + 1) < 0
    offset = start + len(image) // 2
    data[offset] ^= 0xFF
    shard.write_bytes(bytes(data))
    return offset


def test_flipped_byte_inside_an_image_is_named_by_shard_row_and_column(built: Built) -> None:
    record = built.record(1, "bold", 0)
    flip_byte_inside(built.shard(1), Path(record.url).read_bytes())

    report = verify(str(built.out))

    shard = record.shard
    found = messages(report, shard)
    assert any("differs from the build's" in m and "sha256" in m for m in found)  # the shard
    expected = f"row {record.row}, bold[0] ({record.path}): image bytes differ from the build's"
    assert any(m.startswith(expected) for m in found), found
    assert report.counts["images"] == 14
    assert report.counts["images_matched"] == 13


def test_deep_reports_an_image_datasets_could_not_decode(tmp_path: Path) -> None:
    """A flipped byte deep inside a gzip stream: the header and the trailer still look right, so
    only decoding (as datasets does) finds it; the sha256 check finds it either way."""
    source = subject_table(tmp_path / "src", subjects=2, runs=[0, 0], sizes=[300_000])
    out = tmp_path / "out"
    build(str(source.table), str(out), build_options(workers=1))
    record = read_images(OutputFolder(str(out)), "train")[1]
    flip_byte_inside(out / record.shard, Path(record.url).read_bytes())

    cheap = verify(str(out))
    deep = verify(str(out), VerifyOptions(deep=True))

    where = f"row 1, t1w ({record.path}): "
    assert any(m.startswith(where + "image bytes differ") for m in messages(cheap))
    assert not any(m.startswith(where + "corrupt gzip") for m in messages(cheap))
    assert where + "corrupt gzip: CRC check failed" in messages(deep), messages(deep)
    assert deep.counts["images_decoded"] == 2  # both went through the decoder; one failed


def rewrite_shard(path: Path, table: pa.Table) -> None:
    """Write ``table`` over a shard, keeping its schema (and so its `huggingface` metadata)."""
    pq.write_table(table, path)


def test_row_removed(built: Built) -> None:
    shard = built.shard(0)
    table = pq.read_table(shard)
    assert table.num_rows >= 2
    removed = 0  # the rows after it move up: named as moved, not as different
    keep = [i for i in range(table.num_rows) if i != removed]
    rewrite_shard(shard, table.take(keep))

    report = verify(str(built.out))

    found = messages(report, rel(built, shard))
    rows = built.manifest.shards[0].num_rows
    assert f"has {rows - 1:,} rows, the build recorded {rows:,} (rows removed or added)" in found
    gone = [r for r in built.records if r.shard == rel(built, shard) and r.row == removed]
    assert gone, "the removed row held images"
    for record in gone:
        index = "" if record.index is None else f"[{record.index}]"
        expected = f"row {removed}, {record.column}{index}: image missing ({record.path}"
        assert any(m.startswith(expected) for m in found), found
    assert any("not at the rows the build recorded" in m for m in found)
    assert "split 'train': the card says 6 rows, the shards hold 5" in messages(report, "README.md")


def test_paths_only_cell_is_caught(built: Built) -> None:
    """The silent failure of datasets 4.4.0/4.4.1: a cell with a path and no bytes."""
    shard = built.shard(0)
    table = pq.read_table(shard)
    t1w = table.column("t1w").combine_chunks()
    paths = t1w.field("path")
    no_bytes = pa.StructArray.from_arrays(
        [pa.nulls(len(t1w), pa.binary()), paths], fields=list(t1w.type), mask=t1w.is_null()
    )
    rewrite_shard(shard, table.set_column(table.schema.get_field_index("t1w"), "t1w", no_bytes))

    report = verify(str(built.out))

    record = built.record(0, "t1w")
    found = messages(report, record.shard)
    assert any(
        m.startswith(f"row {record.row}, t1w ({record.path}): no bytes, only the path")
        for m in found
    ), found


def test_shard_missing(built: Built) -> None:
    shard = built.shard(2)
    shard.unlink()

    report = verify(str(built.out))

    record = built.manifest.shards[2]
    images = count(len(record.image_sha256), "image")
    assert messages(report, record.path) == [
        f"shard missing ({count(record.num_rows, 'row')}, {images})"
    ]
    assert report.counts["shards"] == len(built.shards()) - 1


def test_stray_shard(built: Built) -> None:
    shutil.copy(built.shard(0), built.out / "data" / "train-00099-of-00100.parquet")
    report = verify(str(built.out))
    assert messages(report, "data/train-00099-of-00100.parquet") == [
        "stray file matching data/train-* (not in the build)"
    ]


def test_schema_without_huggingface_metadata(built: Built) -> None:
    shard = built.shard(0)
    table = pq.read_table(shard)
    rewrite_shard(shard, table.replace_schema_metadata(None))
    report = verify(str(built.out))
    assert "no `huggingface` schema metadata: datasets would not decode the images" in messages(
        report, rel(built, shard)
    )


# the card ----------------------------------------------------------------------------------------
def test_readme_that_disagrees_with_the_shards(built: Built) -> None:
    readme = built.out / "README.md"
    text = readme.read_text()
    assert "num_examples: 6\n" in text
    readme.write_text(
        text.replace("num_examples: 6\n", "num_examples: 7\n").replace(
            "dtype: nifti", "dtype: string", 1
        )
    )

    report = verify(str(built.out))

    assert messages(report) == [
        "dataset_info.features differ from the shards' features",
        "split 'train': the card says 7 rows, the shards hold 6",
    ]
    assert {p.path for p in report.problems} == {"README.md"}


def test_readme_missing(built: Built) -> None:
    (built.out / "README.md").unlink()
    assert messages(verify(str(built.out)), "README.md") == ["missing"]


# the source --------------------------------------------------------------------------------------
def test_source_file_changed_after_the_build(built: Built) -> None:
    same_size = built.record(1, "bold", 0)
    other_size = built.record(0, "t1w")
    original = Path(same_size.url).read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    Path(same_size.url).write_bytes(bytes(changed))
    write_nifti(other_size.url, seed=99, shape=(9, 9, 9))

    report = verify(str(built.out), VerifyOptions(source=str(built.source.table)))

    assert messages(report, same_size.path) == [
        f"source file differs from the stored image: sha256 "
        f"{_sha(bytes(changed))[:12]}… now, {same_size.sha256[:12]}… stored "
        f"(row {same_size.row}, bold[0])"
    ]
    now = Path(other_size.url).stat().st_size
    assert messages(report, other_size.path) == [
        f"source file changed since the build: {now:,} bytes now, {other_size.size:,} stored "
        f"(row {other_size.row}, t1w)"
    ]
    assert report.counts["source_files"] == 15
    assert len(report.problems) == 2  # the shards themselves are intact


def test_source_names_a_file_the_output_does_not_hold(built: Built) -> None:
    table = built.source.table
    lines = table.read_text().splitlines()
    write_nifti(table.parent / "images" / "sub-07_T1w.nii.gz", seed=7)
    lines.append("sub-07,images/sub-07_T1w.nii.gz,[],30.5,control")
    table.write_text("\n".join(lines) + "\n")

    report = verify(str(built.out), VerifyOptions(source=str(table)))

    problems = {p.path: p.message for p in report.problems}
    assert problems["images/sub-07_T1w.nii.gz"] == "in the source but not in the output"
    # the table itself is published (the files config), and it changed too
    assert problems[table.name].startswith("source file changed since the build")
    assert len(problems) == 2


def test_source_that_no_longer_names_a_stored_file(built: Built) -> None:
    record = built.record(0, "t1w")
    Path(record.url).unlink()

    report = verify(str(built.out), VerifyOptions(source=str(built.source.table)))

    assert messages(report, record.path) == [
        "in the output, but the source file cannot be used now: missing file (row 1, column t1w)"
    ]


def test_files_left_out_by_the_build_are_warnings(tmp_path: Path) -> None:
    source = subject_table(tmp_path / "src", subjects=3, runs=[1, 1, 1])
    broken = source.table.parent / "images" / "sub-02_T1w.nii.gz"
    broken.write_bytes(b"not a nifti file at all")
    out = tmp_path / "out"
    options = build_options(on_error="skip", workers=1)
    build(str(source.table), str(out), options)

    report = verify(str(out), VerifyOptions(source=str(source.table)))

    assert report.ok, report.problems
    assert [p.path for p in report.warnings] == ["images/sub-02_T1w.nii.gz"]
    assert report.warnings[0].message.startswith("left out by the build: ")
    assert report.counts["source_files"] == 6  # 5 images and the table


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# the command line --------------------------------------------------------------------------------
def test_cli_ok_prints_the_summary_and_exits_0(built: Built) -> None:
    result = CliRunner().invoke(main, ["verify", str(built.out), "--source", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("6 rows, 14 images, ")
    assert result.stdout.strip().endswith(", 15 source files: OK")


def test_cli_failure_lists_each_problem_and_exits_1(built: Built) -> None:
    record = built.record(1, "bold", 0)
    flip_byte_inside(built.shard(1), Path(record.url).read_bytes())

    result = CliRunner().invoke(main, ["verify", str(built.out), "-q"])

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: 6 rows, 14 images, ") and lines[0].endswith(" problems")
    assert any(
        line.startswith(f"  {record.shard}: row {record.row}, bold[0] ({record.path}): ")
        for line in lines
    ), lines


def test_cli_json_is_the_same_report(built: Built) -> None:
    (built.out / built.manifest.shards[0].path).unlink()

    result = CliRunner().invoke(main, ["verify", str(built.out), "--json", "-q"])

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["checked"]["rows"] == 6 - built.manifest.shards[0].num_rows
    assert data["problems"][0]["path"] == built.manifest.shards[0].path
    assert data["problems"][0]["message"].startswith("shard missing")
    assert data["summary"] == verify(str(built.out)).summary()


def masks_table(root: Path) -> Path:
    """A table whose ``mask`` paths have no .nii suffix: an image column only when named."""
    for i in range(3):
        write_nifti(root / "images" / f"sub-0{i}_T1w.nii.gz", seed=i)
        write_nifti(root / "images" / f"sub-0{i}_mask.nii.gz", seed=10 + i)
        (root / "images" / f"sub-0{i}_mask.nii.gz").rename(root / "images" / f"sub-0{i}_mask")
    lines = ["subject_id,t1w,mask"] + [
        f"sub-0{i},images/sub-0{i}_T1w.nii.gz,images/sub-0{i}_mask" for i in range(3)
    ]
    table = root / "table.csv"
    table.write_text("\n".join(lines) + "\n")
    return table


def test_source_is_read_again_the_way_the_build_read_it(tmp_path: Path, monkeypatch) -> None:
    """The manifest records the absolute source and its options (here ``--image-column``)."""
    table = masks_table(tmp_path / "src")
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path / "src")
    build(table.name, str(out), build_options(image_columns=("mask",), workers=1))
    monkeypatch.chdir(tmp_path)  # another folder: the relative source path would not resolve

    recorded = verify(str(out), VerifyOptions(source=""))
    assert recorded.ok, recorded.problems
    assert recorded.counts["source_files"] == 7  # 6 images and the table

    other = verify(
        str(out),
        VerifyOptions(source=str(table), source_options=source_options(image_columns=("t1w",))),
    )
    assert (
        messages(other) == ["in the output, but the source does not name this file (any more)"] * 3
    )


def test_cli_uses_the_recorded_source(tmp_path: Path) -> None:
    table = masks_table(tmp_path / "src")
    out = tmp_path / "out"
    build(str(table), str(out), build_options(image_columns=("mask",), workers=1))
    result = CliRunner().invoke(main, ["verify", str(out), "--source", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(", 7 source files: OK")


def test_unreadable_row_group_is_named_and_the_rest_still_checked(tmp_path: Path) -> None:
    source = subject_table(tmp_path / "src", subjects=4, runs=[1, 1, 1, 1])
    out = tmp_path / "out"
    build(str(source.table), str(out), build_options(row_group_size=2_000, workers=1))
    folder = OutputFolder(str(out))
    manifest = read_manifest(folder, "train")
    assert manifest is not None and len(manifest.shards) == 1
    shard = out / manifest.shards[0].path
    metadata = pq.ParquetFile(shard).metadata
    assert metadata.num_row_groups >= 3
    column = metadata.row_group(1).column(1)  # t1w.bytes of the second row group
    assert column.path_in_schema == "t1w.bytes"
    data = bytearray(shard.read_bytes())
    data[column.data_page_offset : column.data_page_offset + 16] = b"\xff" * 16  # page header
    shard.write_bytes(bytes(data))

    report = verify(str(out))

    rows_before = metadata.row_group(0).num_rows
    found = messages(report, manifest.shards[0].path)
    assert any(
        m.startswith("row group 1 cannot be read (")
        and m.endswith(f"; its rows from {rows_before} on were not checked")
        for m in found
    ), found
    assert not any("image missing" in m for m in found)
    assert report.counts["images_matched"] == sum(
        1 for r in read_images(folder, "train") if r.row < rows_before
    )
