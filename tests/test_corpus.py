"""The corpus fixture: found beside the project, every placeholder a real image of the shape its
name implies, every other file as in the archive, and a clean skip where there is no corpus."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import corpus as corpus_module
import nibabel as nib
import numpy as np
import pytest
from corpus import Corpus, dataset_names, find_archive, prepare
from corpus_fill import fill_dataset, is_nifti, placeholder_kind


def _nifti_files(corpus: Corpus) -> list[Path]:
    return [
        corpus.path(name) / rel
        for name in corpus.datasets
        for rel in corpus.files(name)
        if is_nifti(rel)
    ]


def test_every_placeholder_is_filled_with_an_image_nibabel_loads(corpus: Corpus) -> None:
    filled = {f"{name}/{f.path}": f for name, items in corpus.filled.items() for f in items}
    checked = 0
    for path in _nifti_files(corpus):
        rel = path.relative_to(corpus.root).as_posix()
        image = nib.load(path)
        data = np.asarray(image.dataobj)  # every voxel is there
        assert data.size > 0, rel
        if rel in filled:  # (a CIFTI file's shape is its matrix: (1, 91282) for 1x1x1x1x1x91282)
            assert data.size == np.prod(filled[rel].shape), rel
        checked += 1
    assert checked == 4827  # the archive's NIfTI files (its README says 4,827)
    assert len(filled) == 4821  # the 6 complete images of the archive are kept as they are
    kinds = [f.was for f in filled.values()]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "empty": 4584,
        "header only": 205,  # header kept, voxels cut off (synthetic, atlases, CIFTI)
        "not NIfTI": 32,  # a newline, a byte-order mark, a saved web page
    }


def test_filled_images_are_a_few_kb_and_deterministic_gzip(corpus: Corpus) -> None:
    sizes = []
    for name, items in corpus.filled.items():
        for item in items:
            path = corpus.path(name) / item.path
            head = path.read_bytes()[:10]
            if item.path.endswith(".gz"):
                assert head[:2] == b"\x1f\x8b" and head[4:8] == b"\0\0\0\0", item.path  # mtime 0
            else:
                assert head[:2] != b"\x1f\x8b", item.path
            if "dlabel" not in item.path:  # CIFTI keeps its own grid of 91,282 grayordinates
                sizes.append(item.size)
    assert max(sizes) < 64_000
    assert sorted(sizes)[len(sizes) // 2] < 4_000  # the median


def _meta(path: Path) -> dict:
    return json.loads(path.with_name(path.name.split(".")[0] + ".json").read_text())


def test_filled_images_have_the_shape_their_names_imply(corpus: Corpus) -> None:
    ds001 = corpus.path("ds001") / "sub-01"
    assert nib.load(ds001 / "anat/sub-01_T1w.nii.gz").ndim == 3
    bold = nib.load(ds001 / "func/sub-01_task-balloonanalogrisktask_run-01_bold.nii.gz")
    task = json.loads((corpus.path("ds001") / "task-balloonanalogrisktask_bold.json").read_text())
    assert bold.ndim == 4 and bold.header.get_zooms()[3] == pytest.approx(task["RepetitionTime"])
    assert bold.header.get_xyzt_units() == ("mm", "sec")
    assert bold.shape[2] == len(task.get("SliceTiming", [0] * 6))

    dwi = nib.load(corpus.path("ds114") / "sub-01/ses-test/dwi/sub-01_ses-test_dwi.nii.gz")
    bvals = (corpus.path("ds114") / "dwi.bval").read_text().split()
    assert dwi.shape[3] == len(bvals)  # inherited from the dataset's top-level dwi.bval

    asl = corpus.path("asl002") / "sub-Sub103/perf/sub-Sub103_asl.nii.gz"
    context = asl.with_name("sub-Sub103_aslcontext.tsv").read_text().strip().splitlines()
    assert nib.load(asl).shape[3] == len(context) - 1
    assert nib.load(asl.with_name("sub-Sub103_m0scan.nii.gz")).ndim == 3

    pet = corpus.path("pet002") / "sub-01/ses-baseline/pet/sub-01_ses-baseline_pet.nii.gz"
    assert nib.load(pet).shape[3] == len(_meta(pet)["FrameTimesStart"])

    mask = next((corpus.path("synthetic") / "derivatives/fmriprep").rglob("*_mask.nii"))
    values = set(np.unique(np.asarray(nib.load(mask).dataobj)).tolist())
    assert values == {0, 1}
    dseg = next(corpus.path("atlas-4S").rglob("sub-01_*_dseg.nii.gz"))
    assert np.asarray(nib.load(dseg).dataobj).dtype.kind in "iu"


def test_a_header_that_survived_is_kept(corpus: Corpus) -> None:
    rel = "sub-01/ses-01/func/sub-01_ses-01_task-rest_bold.nii"
    image = nib.load(corpus.path("synthetic") / rel)
    assert image.header.get_zooms() == (2.0, 2.0, 2.0, 2.5)  # as in the archive's header
    assert image.get_data_dtype() == np.float64
    with tarfile.open(corpus.archive) as tar:
        original = nib.Nifti1Header.from_fileobj(tar.extractfile(f"synthetic/{rel}"))
    assert np.allclose(image.affine, original.get_best_affine())


def test_every_other_file_is_byte_identical_to_the_archive(corpus: Corpus) -> None:
    filled = {f"{name}/{f.path}" for name, items in corpus.filled.items() for f in items}
    seen, compared, links = set(), 0, 0
    with tarfile.open(corpus.archive) as tar:
        for member in tar:
            path = corpus.root / member.name
            seen.add(member.name)
            if member.issym():
                assert os.readlink(path) == member.linkname
                links += 1
            elif member.isfile():
                data = tar.extractfile(member).read()
                if member.name in filled:
                    assert placeholder_kind(data, member.name.endswith(".gz")) is not None
                else:
                    assert _sha(path.read_bytes()) == _sha(data), member.name
                    compared += 1
    on_disk = {p.relative_to(corpus.root).as_posix() for p in corpus.root.rglob("*")}
    assert on_disk == seen - {""}  # nothing added, nothing missing
    assert compared == 18380 - len(filled) and links == 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_filling_again_gives_the_same_bytes(corpus: Corpus, tmp_path: Path) -> None:
    with tarfile.open(corpus.archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("asl002/")]
        tar.extractall(tmp_path, members=members)
    written = fill_dataset(tmp_path / "asl002")
    assert len(written) == 3
    for item in written:
        fresh = (tmp_path / "asl002" / item.path).read_bytes()
        assert fresh == (corpus.path("asl002") / item.path).read_bytes()
    assert fill_dataset(tmp_path / "asl002") == []  # a filled dataset has no placeholder left


def test_the_datasets_and_the_copies(corpus: Corpus, corpus_copy) -> None:
    assert len(corpus.datasets) == 108  # and .github/, docs/, tools/: not datasets
    assert len(corpus.with_images) == 82
    assert dataset_names(with_images=True) == list(corpus.with_images)  # from the archive alone
    assert dataset_names() == list(corpus.datasets)
    assert corpus.first_subject("ds000117") == "01"
    assert "stimuli/meg/u032.bmp" in corpus.files("ds000117")
    copy = corpus_copy("asl002")
    (copy / "README").write_text("changed")
    assert (corpus.path("asl002") / "README").read_bytes() != b"changed"
    assert sorted(p.name for p in copy.iterdir()) == sorted(
        p.name for p in corpus.path("asl002").iterdir()
    )


def test_a_prepared_folder_is_reused(corpus: Corpus) -> None:
    probe = corpus.root.parent / "probe"
    probe.write_text("kept")
    again = prepare(corpus.archive, corpus.root.parent)
    assert probe.exists() and again == corpus  # not extracted a second time
    probe.unlink()


def test_the_corpus_is_found_beside_the_project_or_above_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(corpus_module.ENV, raising=False)
    project = tmp_path / "wt" / "branch"
    project.mkdir(parents=True)
    monkeypatch.setattr(corpus_module, "PROJECT_ROOT", project)
    assert find_archive() is None
    above = tmp_path / "shared" / "corpora"
    above.mkdir(parents=True)
    (above / "bids-examples-aaaaaaa.tar.gz").write_bytes(b"")
    assert find_archive() == above / "bids-examples-aaaaaaa.tar.gz"  # a worktree's checkout
    beside = tmp_path / "wt" / "shared" / "corpora"
    beside.mkdir(parents=True)
    (beside / "bids-examples-bbbbbbb.tar.gz").write_bytes(b"")
    assert find_archive() == beside / "bids-examples-bbbbbbb.tar.gz"  # ../shared/corpora first
    monkeypatch.setenv(corpus_module.ENV, str(tmp_path / "empty"))
    assert find_archive() is None and dataset_names() == []


def test_without_the_corpus_its_tests_skip_saying_why(tmp_path: Path) -> None:
    env = {**os.environ, corpus_module.ENV: str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         f"{__file__}::test_every_placeholder_is_filled_with_an_image_nibabel_loads"],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parent.parent, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert f"is not in ${corpus_module.ENV} = {tmp_path}" in done.stdout


def test_gzip_of_a_filled_image_holds_no_name(corpus: Corpus) -> None:
    name, item = next(
        (n, f) for n, items in corpus.filled.items() for f in items if f.path.endswith(".gz")
    )
    data = (corpus.path(name) / item.path).read_bytes()
    assert data[3] == 0  # no FNAME, FCOMMENT or FEXTRA field
    assert gzip.decompress(data)[344:348] == b"n+1\0"
