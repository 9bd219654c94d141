"""``--blank-nifti-headers`` before planning: rewritten copies with known sizes, made the same way
every time; images with nothing to blank are stored as they are."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import nibabel as nib
import numpy as np
from privacy_factory import identifying_image

from nifti2parquet.shards.blanking import BLANKED, blank_headers, clear_blanked
from nifti2parquet.shards.output import OutputFolder
from nifti2parquet.sources.options import SourceOptions
from nifti2parquet.sources import read_source
from nifti2parquet.common.storage import Storage


def _table(tmp_path: Path) -> str:
    identifying_image(tmp_path / "a.nii.gz", seed=1)
    identifying_image(tmp_path / "b.nii", seed=2)
    plain = nib.Nifti1Image(np.zeros((3, 3, 3), np.int16), np.eye(4))
    nib.save(plain, str(tmp_path / "c.nii"))  # no text, no extension: nothing to blank
    (tmp_path / "t.csv").write_text("image\na.nii.gz\nb.nii\nc.nii\n")
    return str(tmp_path / "t.csv")


def test_blanked_copies_are_deterministic_and_sized_before_planning(tmp_path: Path) -> None:
    rows = read_source(_table(tmp_path), SourceOptions())
    output = OutputFolder(str(tmp_path / "out"))
    blanked_rows, records = blank_headers(rows, output, Storage())
    refs = {img.display: img for _, _, img in blanked_rows.images()}
    assert sorted(r.path for r in records) == ["a.nii.gz", "b.nii"]
    assert refs["c.nii"] == next(img for _, _, img in rows.images() if img.display == "c.nii")
    for name in ("a.nii.gz", "b.nii"):
        copy = Path(refs[name].url)
        assert copy.parent == tmp_path / "out" / BLANKED
        assert refs[name].size == copy.stat().st_size  # the plan sees the stored size
    record = {r.path: r for r in records}["a.nii.gz"]
    source = (tmp_path / "a.nii.gz").read_bytes()
    assert record.source_sha256 == hashlib.sha256(source).hexdigest()
    assert record.changed == ("descrip", "aux_file", "intent_name", "db_name", "2 extensions")
    first = Path(refs["a.nii.gz"].url).read_bytes()
    assert nib.Nifti1Image.from_bytes(gzip.decompress(first)).header.extensions == []

    clear_blanked(output)
    again, _ = blank_headers(rows, output, Storage())
    assert Path(next(i for _, _, i in again.images()).url).read_bytes() == first
