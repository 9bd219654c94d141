"""The per-file record a source holds for every file: compact, and pickled to worker processes."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor

import pyarrow as pa

from nifti2parquet.common.rows import (
    Column,
    FileRef,
    FileUnder,
    MetadataFile,
    MetadataUnder,
    SourceRows,
    StructCell,
)


def _name_of(ref: FileRef) -> str:
    return ref.name


def test_file_ref_has_no_dict_per_file() -> None:
    ref = FileRef("/data/sub-01/anat/sub-01_T1w.nii.gz", 352, "sub-01_T1w.nii.gz", "x", "352:1")
    assert not hasattr(ref, "__dict__")
    assert sys.getsizeof(ref) <= 96


def test_file_ref_pickles_with_every_field() -> None:
    ref = FileRef("s3://bucket/a.nii", 10, "a.nii", "a.nii", "10:etag")
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(ref, protocol=protocol))
        assert back == ref and hash(back) == hash(ref)
        assert back.version == "10:etag"


def test_file_ref_reaches_a_worker_process() -> None:
    refs = [FileRef(f"/d/{i}.nii", i, f"{i}.nii", f"{i}.nii") for i in range(3)]
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert list(pool.map(_name_of, refs)) == ["0.nii", "1.nii", "2.nii"]


def test_file_under_joins_its_url_and_version_when_asked() -> None:
    under = FileUnder("/data/ds/", 352, "sub-01/anat/sub-01_T1w.nii.gz", 1_700_000_000_123_456_789)
    plain = FileRef(
        "/data/ds/sub-01/anat/sub-01_T1w.nii.gz",
        352,
        "sub-01/anat/sub-01_T1w.nii.gz",
        "sub-01/anat/sub-01_T1w.nii.gz",
        "352:1700000000123456789",
    )
    assert under.url == plain.url and under.version == plain.version
    assert under == plain and plain == under and hash(under) == hash(plain)
    assert not hasattr(under, "__dict__")


def test_file_under_pickles_and_replaces_as_a_plain_reference() -> None:
    under = FileUnder("s3://bucket/ds/", 10, "a.nii", "10:etag")
    back = pickle.loads(pickle.dumps(under))
    assert type(back) is FileRef and back == under and back.url == "s3://bucket/ds/a.nii"
    renamed = dataclasses.replace(under, name="b.nii")
    assert type(renamed) is FileRef
    assert (renamed.url, renamed.name, renamed.version) == (
        "s3://bucket/ds/a.nii",
        "b.nii",
        "10:etag",
    )


def test_metadata_under_is_the_record_it_stands_for() -> None:
    under = MetadataUnder("/data/ds/", "sub-01/anat/sub-01_T1w.json", "sidecar", ("x.nii.gz",))
    plain = MetadataFile(
        "sub-01/anat/sub-01_T1w.json",
        "/data/ds/sub-01/anat/sub-01_T1w.json",
        "sidecar",
        ("x.nii.gz",),
    )
    assert under == plain and plain == under and hash(under) == hash(plain)
    assert pickle.loads(pickle.dumps(under)) == plain
    assert dataclasses.replace(under, url="/copy.json").url == "/copy.json"
    assert not hasattr(under, "__dict__")


def test_let_go_of_values_keeps_the_images_and_the_kind_column() -> None:
    """After the shards, a build keeps only what it still reads: the image cells (a list of
    them too) and the column it counts kinds by; every other value goes, in the same object."""
    t1 = FileRef("/d/sub-01_T1w.nii.gz", 10, "sub-01_T1w.nii.gz", "sub-01_T1w.nii.gz", "1")
    bold = FileRef("/d/sub-01_bold.nii.gz", 20, "sub-01_bold.nii.gz", "sub-01_bold.nii.gz", "1")
    columns = (
        Column("subject_id", "value", pa.string()),
        Column("kind", "value", pa.string()),
        Column("T1w", "image"),
        Column("T1w_info", "value", pa.struct([("sidecar", pa.string())])),
        Column("bold", "image_list"),
    )
    rows = SourceRows(
        "/d",
        "bids",
        columns,
        (("sub-01", "T1w", t1, StructCell(['{"EchoTime": 0.1}']), (bold,)),),
        kind_column="kind",
    )
    inner = rows.rows
    rows.let_go_of_values()
    assert rows.rows == ((None, "T1w", t1, None, (bold,)),)
    assert rows.rows[0][2] is t1 and rows.rows is not inner
    assert [img for _, _, img in rows.images()] == [t1, bold]
    assert rows.images_per_kind() == {"T1w": 1}
