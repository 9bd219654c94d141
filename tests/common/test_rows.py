"""The per-file record a source holds for every file: compact, and pickled to worker processes."""

from __future__ import annotations

import pickle
import sys
from concurrent.futures import ProcessPoolExecutor

from nifti2parquet.common.rows import FileRef


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
