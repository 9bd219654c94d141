"""The BIDS validator as a real client: a valid dataset has no error, a broken one the expected
code naming the broken file, and the filled corpus has no error its placeholders did not have."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from corpus import Corpus
from validator import Validation


def _image(path: Path, shape: tuple[int, ...], tr: float = 2.0) -> None:
    data = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    image = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_qform(image.affine, code=1)
    image.header.set_zooms((2.0, 2.0, 2.0, tr)[: len(shape)])
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


def _json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def tiny_dataset(root: Path) -> Path:
    """One subject, a T1w and a BOLD run with its events: valid BIDS."""
    _json(
        root / "dataset_description.json",
        {"Name": "tiny", "BIDSVersion": "1.10.0", "Authors": ["A. Author", "B. Author"]},
    )
    (root / "README").write_text("A tiny dataset for the validator's tests.\n")
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t30\n")
    _json(root / "participants.json", {"age": {"Description": "age", "Units": "year"}})
    _image(root / "sub-01/anat/sub-01_T1w.nii.gz", (6, 6, 4))
    func = root / "sub-01/func"
    _image(func / "sub-01_task-rest_bold.nii.gz", (4, 4, 3, 10))
    _json(func / "sub-01_task-rest_bold.json", {"TaskName": "rest", "RepetitionTime": 2.0})
    (func / "sub-01_task-rest_events.tsv").write_text("onset\tduration\n12.0\t1.0\n")
    return root


def test_a_valid_dataset_has_no_error(bids_validator, tmp_path: Path) -> None:
    result = bids_validator(tiny_dataset(tmp_path / "tiny"))
    assert result.error_codes == set()
    assert len(result.issues) > 0  # it did look: warnings (recommended fields...) are reported


def test_a_broken_dataset_shows_the_expected_codes_and_files(bids_validator, tmp_path) -> None:
    root = tiny_dataset(tmp_path / "tiny")
    bold = "sub-01/func/sub-01_task-rest_bold"
    _json(root / f"{bold}.json", {"TaskName": "rest", "RepetitionTime": 3.0})  # header says 2 s
    events = "sub-01/func/sub-01_task-rest_events.tsv"
    (root / events).write_text("onset\tduration\tstim_file\n12.0\t1.0\tfaces/f01.png\n")
    result = bids_validator(root)
    assert result.errors["REPETITION_TIME_MISMATCH"] == {f"{bold}.nii.gz"}
    assert result.errors["STIMULUS_FILE_MISSING"] == {events}
    (root / "stimuli/faces").mkdir(parents=True)
    (root / "stimuli/faces/f01.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert "STIMULUS_FILE_MISSING" not in bids_validator(root).errors


def test_new_errors_are_the_codes_the_reference_does_not_have(bids_validator, tmp_path) -> None:
    source = bids_validator(tiny_dataset(tmp_path / "source"))
    broken = tiny_dataset(tmp_path / "copy")
    (broken / "dataset_description.json").unlink()
    new = bids_validator(broken).new_errors(source)
    assert "MISSING_DATASET_DESCRIPTION" in new
    assert bids_validator(tmp_path / "source").new_errors(source) == {}


# on the corpus: the filling brings no error the placeholders did not have -----------------------
# The BIDS examples are validated upstream with EMPTY_FILE ignored and NIfTI headers not read
# (except synthetic, the one whose headers are real); filled, every header is read. One dataset
# per filling rule: header-only images (synthetic, atlas-4S with CIFTI), bval counts (ds114),
# aslcontext rows (asl002), PET frames from a saved web page (pet002), MRS (mrs_2dmrsi), dir-AP
# field maps and events (eyetracking_fmri), sbref and magnitude/phase maps (ds000117).
RULES = [
    "synthetic",
    "atlas-4S",
    "ds114",
    "asl002",
    "pet002",
    "mrs_2dmrsi",
    "eyetracking_fmri",
    "ds000117",
]


@pytest.fixture(scope="module")
def unfilled(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Those datasets as the archive has them (placeholders), and the archive's validator config:
    read in one pass over the archive."""
    root = tmp_path_factory.mktemp("unfilled")
    with tarfile.open(corpus.archive) as tar:
        members = [m for m in tar if m.name.split("/")[0] in RULES or m.name == CONFIG]
        tar.extractall(root, members=members)
    return root


CONFIG = "default-config.json"


@pytest.mark.parametrize("name", RULES)
def test_filled_images_bring_no_new_error(
    name: str, corpus: Corpus, bids_validator, unfilled: Path
) -> None:
    config = unfilled / CONFIG
    placeholders = bids_validator(
        unfilled / name, ignore_nifti_headers=name != "synthetic", config=config
    )
    filled: Validation = bids_validator(corpus.path(name), config=config)
    assert filled.new_errors(placeholders) == {}
    assert not any(issue.code.startswith("NIFTI_HEADER") for issue in filled.issues)
