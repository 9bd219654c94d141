"""Pictures on the dataset page: for each image column, a PNG of the middle
slices of a few images, drawn from the files, recorded, verified, pushed and linked from the card.

The expected pixels are computed here independently, with nibabel's own canonical reorientation
(``as_closest_canonical``) and numpy: the picture must be what it says it is."""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from factories import write_nifti
from PIL import Image


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nifti2parquet", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def expected_slices(path: Path) -> list[np.ndarray]:
    """Sagittal, coronal, axial middle slices of the first volume, RAS+, superior/anterior up,
    windowed 1st-99th percentile, thinned to at most 256 pixels a side."""
    img = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(img.dataobj, dtype=np.float32)
    while data.ndim > 3:
        data = data[..., 0]
    low, high = np.percentile(data, [1, 99])
    shade = np.round(np.clip((data - low) / max(high - low, 1e-30), 0, 1) * 255).astype(np.uint8)
    x, y, z = (n // 2 for n in shade.shape)
    views = [np.rot90(v) for v in (shade[x], shade[:, y], shade[:, :, z])]
    return [v[:: (s := max(1, math.ceil(max(v.shape) / 256))), ::s] for v in views]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("previews")
    rows = ["subject,anat,func"]
    for i in range(7):  # 7 anatomical images: the preview decodes only 3
        anat = write_nifti(root / f"s{i}_T1w.nii.gz", seed=i, shape=(20, 24, 16))
        func = write_nifti(root / f"s{i}_bold.nii", seed=10 + i, shape=(12, 10, 8, 3))
        rows.append(f"s{i},{anat.name},{func.name}")
    (root / "t.csv").write_text("\n".join(rows) + "\n")
    out = root / "out"
    result = run("build", str(root / "t.csv"), str(out), "-q")
    assert result.returncode == 0, result.stderr
    return out


def manifest(out: Path) -> dict:
    return json.loads((out / ".nifti2parquet" / "train" / "manifest.json").read_text())


def test_previews_are_pngs_of_the_middle_slices(built: Path) -> None:
    records = {r["column"]: r for r in manifest(built)["previews"]}
    assert set(records) == {"anat", "func"}
    source = built.parent
    for column, record in records.items():
        png = (built / record["path"]).read_bytes()
        assert record["path"] == f"previews/train/{column}.png"
        assert len(png) == record["size"] and hashlib.sha256(png).hexdigest() == record["sha256"]
        picture = Image.open(io.BytesIO(png))
        assert picture.format == "PNG" and picture.mode == "L"
        pixels = np.asarray(picture)
        assert len(record["images"]) == 3  # first, middle, last: bounded whatever the size
        assert record["images"] == [f"s{i}_{'T1w.nii.gz' if column == 'anat' else 'bold.nii'}"
                                    for i in (0, 3, 6)]  # fmt: skip
        for name, boxes in zip(record["images"], record["panels"]):
            for (left, top, width, height), want in zip(boxes, expected_slices(source / name)):
                assert (height, width) == want.shape
                got = pixels[top : top + height, left : left + width]
                assert np.abs(got.astype(int) - want).max() <= 1  # rounding only


def test_the_card_links_each_preview(built: Path) -> None:
    card = (built / "README.md").read_text()
    for record in manifest(built)["previews"]:
        assert f"![{record['column']}]({record['path']})" in card
    assert "a 4D image shows its first volume" in card


def test_verify_checks_the_previews(built: Path, tmp_path: Path) -> None:
    ok = run("verify", str(built), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["checked"]["previews"] == 2
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "previews" / "train" / "anat.png").write_bytes(b"not a png")
    bad = run("verify", str(copy))
    assert bad.returncode == 1
    assert "previews/train/anat.png: differs from the preview the build drew" in bad.stderr


def test_an_image_that_cannot_be_drawn_gets_a_note_not_a_failed_build(tmp_path: Path) -> None:
    write_nifti(tmp_path / "flat.nii", shape=(6, 7))  # 2D: no slices to draw
    write_nifti(tmp_path / "vol.nii", shape=(6, 7, 5))
    (tmp_path / "t.csv").write_text("a,b\nflat.nii,vol.nii\n")
    result = run("build", str(tmp_path / "t.csv"), str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    records = {r["column"]: r for r in manifest(tmp_path / "out")["previews"]}
    assert not records["a"]["path"] and records["a"]["images"] == []
    assert records["a"]["notes"][0].startswith("flat.nii: cannot be decoded for a preview")
    assert (tmp_path / "out" / records["b"]["path"]).exists()
    card = (tmp_path / "out" / "README.md").read_text()
    assert "No preview: none of the images chosen could be decoded." in card
    assert "Note: flat.nii: cannot be decoded for a preview" in card


def test_no_previews(tmp_path: Path) -> None:
    write_nifti(tmp_path / "vol.nii")
    (tmp_path / "t.csv").write_text("b\nvol.nii\n")
    out = tmp_path / "out"
    assert run("build", str(tmp_path / "t.csv"), str(out), "-q").returncode == 0
    assert (out / "previews" / "train" / "b.png").exists()
    result = run("build", str(tmp_path / "t.csv"), str(out), "-q", "--no-previews")
    assert result.returncode == 0, result.stderr
    assert not (out / "previews" / "train" / "b.png").exists()  # ours, and no longer drawn
    assert "## Previews" not in (out / "README.md").read_text()
    assert manifest(out)["previews"] == []
