"""Defacing from the image, not only the name: a head phantom with a face and the same phantom
with its face zeroed (as pydeface leaves it) are told apart in any storage orientation; a
defacing mask names the images it was made for and is never counted as a defaced image; the
reading is bounded."""

from __future__ import annotations

import tarfile
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from corpus import find_archive, missing_reason
from privacy_factory import clean_bids

from nifti2parquet.common.storage import Storage
from nifti2parquet.preflight.defacing import defacing_report
from nifti2parquet.preflight.privacy import PrivacyOptions, scan_privacy
from nifti2parquet.preflight.privacy_face import check_face, voxel_axes
from nifti2parquet.sources import read_source
from nifti2parquet.sources.options import SourceOptions

CORPUS = find_archive()  # where every corpus test finds it (tests/corpus.py)


def head_phantom(n: int = 96, defaced: bool = False, seed: int = 0) -> np.ndarray:
    """A head in RAS+ voxel order: noisy air, skull, brain, neck, a face with a nose; defaced,
    everything in front of a plane from the brow down to the throat is zero (pydeface-style)."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n),) * 3, indexing="ij")
    volume = rng.normal(20, 8, (n, n, n)).clip(0)
    skull = (x / 0.62) ** 2 + (y / 0.78) ** 2 + ((z - 0.15) / 0.7) ** 2 <= 1
    volume[skull] = 300 + rng.normal(0, 20, skull.sum())
    brain = (x / 0.5) ** 2 + (y / 0.65) ** 2 + ((z - 0.25) / 0.5) ** 2 <= 1
    volume[brain] = 500 + rng.normal(0, 30, brain.sum())
    volume[((x / 0.3) ** 2 + ((y + 0.1) / 0.35) ** 2 <= 1) & (z < -0.3)] = 280  # the neck
    volume[(x / 0.35) ** 2 + ((y - 0.72) / 0.22) ** 2 + ((z + 0.2) / 0.35) ** 2 <= 1] = 350
    volume[(x / 0.08) ** 2 + ((y - 0.92) / 0.1) ** 2 + ((z + 0.05) / 0.15) ** 2 <= 1] = 350
    if defaced:
        volume[y > 0.6 + (z - 0.1) * 0.55] = 0
    return volume.astype(np.int16)


def stored(volume: np.ndarray, orientation: str) -> nib.Nifti1Image:
    """The same head stored as a scanner might: RAS axial, LPI axial, or sagittal slices."""
    if orientation == "RAS":
        return nib.Nifti1Image(volume, np.diag([2.0, 2.0, 2.0, 1.0]))
    if orientation == "LPI":
        return nib.Nifti1Image(volume[::-1, :, ::-1].copy(), np.diag([-2.0, 2.0, -2.0, 1.0]))
    affine = np.zeros((4, 4))  # voxel axes: posterior, inferior, right (sagittal slices)
    affine[1, 0], affine[2, 1], affine[0, 2], affine[3, 3] = -2, -2, 2, 1
    image = nib.Nifti1Image(np.transpose(volume, (1, 2, 0))[::-1, ::-1, :].copy(), affine)
    image.set_qform(affine, 1)  # and only a qform: the sform cleared
    image.set_sform(None, 0)
    return image


@pytest.mark.parametrize("orientation", ["RAS", "LPI", "PIR"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_face_and_a_zeroed_face_are_told_apart(
    tmp_path: Path, orientation: str, suffix: str
) -> None:
    for defaced, verdict in ((False, "not defaced"), (True, "defaced")):
        path = tmp_path / f"{defaced}_T1w{suffix}"
        nib.save(stored(head_phantom(defaced=defaced), orientation), path)
        check = check_face(str(path), Storage())
        assert check.verdict == verdict, (orientation, check)


@pytest.mark.parametrize("shape", [(8, 8, 6), (64, 64, 40)])
def test_what_shows_no_head_cannot_tell(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "noise.nii.gz"
    noise = np.random.default_rng(0).integers(0, 1000, shape).astype(np.int16)
    nib.save(nib.Nifti1Image(noise, np.eye(4)), path)
    assert check_face(str(path), Storage()).verdict == "cannot tell"


def test_the_orientation_is_nibabels(tmp_path: Path) -> None:
    """The header's axes, read without nibabel, are what nibabel's io_orientation says."""
    rng = np.random.default_rng(1)
    for n in range(40):
        rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0] * rng.uniform(0.5, 3, 3)
        affine = np.eye(4)
        affine[:3, :3] = rotation
        image = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), affine)
        if n % 2:  # a qform only
            image.set_qform(affine, 1)
            image.set_sform(None, 0)
        for klass in (nib.Nifti1Image, nib.Nifti2Image):
            image = klass(
                image.dataobj, image.affine, image.header if klass is nib.Nifti1Image else None
            )
            if n % 2:
                image.set_qform(affine, 1)
                image.set_sform(None, 0)
            path = tmp_path / f"{n}.nii"
            nib.save(image, path)
            head = path.read_bytes()[:544]
            version = 2 if klass is nib.Nifti2Image else 1
            expected = nib.orientations.io_orientation(nib.load(path).affine)
            ours = voxel_axes(head, version, "<")
            assert ours == tuple((int(w), int(s)) for w, s in expected), (n, klass)


def test_reading_is_bounded(tmp_path: Path) -> None:
    """A 23 MB volume is read keeping one slice and the sampled volume: a few MB."""
    path = tmp_path / "big_T1w.nii.gz"
    volume = np.zeros((256, 256, 176), np.int16)
    volume[64:192, 48:208, 20:160] = 400
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    tracemalloc.start()
    check_face(str(path), Storage())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 6 << 20, peak


def mp2rage_tree(root: Path, defaced: bool) -> Path:
    """A qmri_mp2rage-like subject: two inversions, a UNIT1, and the defacing mask that names the
    MP2RAGE images (``mod-MP2RAGE``)."""
    clean_bids(root)
    anat = root / "sub-1/anat"
    anat.mkdir(parents=True)
    for name in ("sub-1_inv-1_MP2RAGE", "sub-1_inv-2_MP2RAGE", "sub-1_UNIT1"):
        nib.save(stored(head_phantom(48, defaced=defaced), "RAS"), anat / f"{name}.nii.gz")
    mask = (head_phantom(48, defaced=True) > 0).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, np.eye(4)), anat / "sub-1_mod-MP2RAGE_defacemask.nii.gz")
    return root


def test_a_defacing_mask_names_images_and_is_not_one(tmp_path: Path) -> None:
    root = mp2rage_tree(tmp_path / "ds", defaced=True)
    report = scan_privacy(read_source(str(root), SourceOptions()), Storage(), PrivacyOptions())
    statuses = {d.path.rsplit("/", 1)[-1]: (d.status, d.why) for d in report.defacing}
    assert "sub-1_mod-MP2RAGE_defacemask.nii.gz" not in statuses
    status, why = statuses["sub-1_inv-1_MP2RAGE.nii.gz"]
    assert status == "defaced"
    assert "zeroed" in why and "the dataset says so too (defacing mask sub-1_mod-MP2RAGE" in why
    assert statuses["sub-1_UNIT1.nii.gz"][0] == "defaced"  # the voxels say so, no mask names it
    # the mask says defaced, the voxels show a face: the voxels win, and the card says both
    root = mp2rage_tree(tmp_path / "face", defaced=False)
    report = scan_privacy(read_source(str(root), SourceOptions()), Storage(), PrivacyOptions())
    status, why = {d.path.rsplit("/", 1)[-1]: (d.status, d.why) for d in report.defacing}[
        "sub-1_inv-2_MP2RAGE.nii.gz"
    ]
    assert status == "not defaced" and "the dataset says otherwise" in why
    assert "3 not defaced" in "\n".join(report.lines())


@pytest.mark.skipif(CORPUS is None, reason=missing_reason())
def test_qmri_mp2rage_of_the_corpus_reports_the_images_not_the_mask(tmp_path: Path) -> None:
    with tarfile.open(CORPUS) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("qmri_mp2rage/")]
        tar.extractall(tmp_path, members, filter="data")
    root = tmp_path / "qmri_mp2rage"
    for path in root.rglob("*.nii*"):  # the corpus's images are empty placeholders
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), path)
    report = scan_privacy(read_source(str(root), SourceOptions()), Storage(), PrivacyOptions())
    reported = {d.path: d for d in report.defacing}
    assert reported and not [p for p in reported if "defacemask" in p]
    mp2rage = [d for p, d in reported.items() if p.endswith(("_MP2RAGE.nii", "_MP2RAGE.nii.gz"))]
    assert mp2rage and all(d.status == "defaced" for d in mp2rage)
    assert all("defacing mask" in d.why for d in mp2rage)


def test_a_sidecar_field_says_defaced_however_its_key_is_written(tmp_path: Path) -> None:
    """The sidecars of anatomical images are read for a defacing field: plain, spelt with JSON's
    ``\\u`` escapes, saying no, or absent (then the dataset does not say)."""
    root = clean_bids(tmp_path / "ds")
    sidecars = {
        "1": '{"Defaced": true}',
        "2": '{"\\u0044efaced": "yes"}',  # "Defaced", escaped
        "3": '{"Defaced": "no"}',
        "4": '{"EchoTime": 0.003}',
    }
    for label, text in sidecars.items():
        anat = root / f"sub-{label}/anat"
        anat.mkdir(parents=True)
        image = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
        nib.save(image, anat / f"sub-{label}_T1w.nii.gz")
        (anat / f"sub-{label}_T1w.json").write_text(text)
    rows = read_source(str(root), SourceOptions())
    said = {
        d.path.split("/")[0]: (d.status, d.why)
        for d in defacing_report(rows, Storage(), voxels=False)()
    }
    assert (
        said["sub-1"] == ("defaced", said["sub-1"][1])
        and "sidecar field Defaced" in said["sub-1"][1]
    )
    assert said["sub-2"][0] == "defaced" and "sidecar field Defaced" in said["sub-2"][1]
    assert said["sub-3"][0] == "not defaced" and "sidecar field Defaced" in said["sub-3"][1]
    assert said["sub-4"][0] == "cannot tell" and "does not say" in said["sub-4"][1]
