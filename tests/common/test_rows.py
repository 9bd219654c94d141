"""The per-file record a source holds for every file: compact, and pickled to worker processes."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor

from nifti2parquet.common.rows import FileRef, FileUnder, MetadataFile, MetadataUnder


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
