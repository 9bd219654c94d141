"""Pictures on the dataset page: for each image column, a PNG of a few images' middle slices,
in physical proportions, captioned, recorded, verified, pushed and linked from the card.

What the slices hold is checked against nibabel's own canonical reorientation
(``as_closest_canonical``); what the pictures show is measured on the PNG the build wrote: a
sphere is a circle in every view whatever the voxel size, the three views of an image share one
scale, a row is ``ROW_HEIGHT`` pixels tall, labels keep their values' colours, captions say what
each row is."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from factories import write_nifti
from PIL import Image, ImageFont

from nifti2parquet.card.previews import image_row, overlay_row, slices
from nifti2parquet.card.previews.choosing import BUDGET_FLOOR, candidates, within_budget
from nifti2parquet.card.previews.composition import CAPTION, LETTER, TEXT, describe
from nifti2parquet.card.previews.header import closest_axes, read_layout
from nifti2parquet.card.previews.pictures import PreviewDrawing, draw_previews, make_overlay_preview
from nifti2parquet.card.previews.resampling import MAX_ROW_WIDTH, MAX_ZOOM, ROW_HEIGHT
from nifti2parquet.card.previews.resampling import oriented_views as views_of
from nifti2parquet.card.previews.shading import (
    PALETTE,
    distinct_count,
    is_label_image,
    percentiles,
)
from nifti2parquet.card.previews.slices import most_labelled, read_planes
from nifti2parquet.common.rows import FileRef
from nifti2parquet.common.storage import Storage
from nifti2parquet.shards.output import OutputFolder


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nifti2parquet", *args], capture_output=True, text=True, timeout=300
    )


def save(path: Path, data: np.ndarray, zooms: tuple[float, ...] = (1, 1, 1), affine=None) -> Path:
    """A NIfTI image of ``data`` (gzip'ed when the name says so), RAS axes unless ``affine``."""
    if affine is None:
        affine = np.diag([*zooms[:3], 1.0])
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(data.dtype)
    if len(zooms) > 3:
        image.header.set_zooms(zooms)
    raw = image.to_bytes()
    path.write_bytes(gzip.compress(raw, 1, mtime=0) if path.name.endswith(".gz") else raw)
    return path


def distance(shape: tuple[int, ...], zooms: tuple[float, ...]) -> np.ndarray:
    """mm from the centre of the volume, per voxel (float32)."""
    axes = np.ogrid[tuple(slice(0, n) for n in shape[:3])]
    squares = [
        ((g - (n - 1) / 2) * z).astype(np.float32) ** 2 for g, n, z in zip(axes, shape, zooms)
    ]
    return np.sqrt(squares[0] + squares[1] + squares[2])


def ball(shape: tuple[int, ...], zooms: tuple[float, ...], radius: float, seed: int = 0):
    """An intensity image: a bright ball with a little texture on a dark noisy background."""
    rng = np.random.default_rng(seed)
    inside = distance(shape, zooms) < radius
    values = np.where(inside, 800.0, 40.0) + rng.normal(0, 10, shape[:3])
    return values.astype(np.int16)


# reading ------------------------------------------------------------------------------------------
def canonical_slices(image: nib.Nifti1Image) -> list[np.ndarray]:
    """nibabel's view: the middle slices of the RAS+ volume, superior (axial: anterior) up."""
    data = nib.as_closest_canonical(image).get_fdata(dtype=np.float32)
    x, y, z = (n // 2 for n in data.shape)
    return [np.rot90(data[x]), np.rot90(data[:, y]), np.rot90(data[:, :, z])]


def test_the_views_are_nibabels_canonical_slices_in_every_orientation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shape = (7, 9, 11)  # odd: the middle is the same voxel whichever way an axis runs
    checked = 0
    signs_tried = [(1, 1, 1), (-1, 1, -1), (1, -1, 1), (-1, -1, -1)]
    for axes, signs in itertools.product(itertools.permutations(range(3)), signs_tried):
        affine = np.eye(4)
        affine[:3, :3] = 0
        for voxel_axis, (world_axis, sign) in enumerate(zip(axes, signs)):
            affine[world_axis, voxel_axis] = sign * (1.0 + voxel_axis / 2)
        data = rng.integers(0, 1000, shape).astype(np.int16)
        image = nib.Nifti1Image(data, affine)
        path = save(tmp_path / f"o{checked}.nii.gz", data, affine=affine)
        views = views_of(read_planes(str(path), Storage()))
        canonical = nib.as_closest_canonical(image).header.get_zooms()
        spacing = {"sagittal": (2, 1), "coronal": (2, 0), "axial": (1, 0)}
        for view, expected in zip(views, canonical_slices(image)):
            assert np.array_equal(view.values, expected), (axes, signs, view.name)
            assert view.spacing == tuple(canonical[a] for a in spacing[view.name])
        checked += 1
    assert checked == 24


def test_values_are_scaled_in_any_byte_order(tmp_path: Path) -> None:
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    header = nib.Nifti1Header(endianness=">")
    header.set_data_shape(data.shape)
    header.set_data_dtype(np.int16)
    header.set_slope_inter(0.5, 10.0)
    header.set_sform(np.diag([2.0, 1.0, 3.0, 1.0]), code=1)
    header["vox_offset"] = 352
    path = tmp_path / "scaled.nii"  # big-endian int16 on disk, scaled by slope and intercept
    path.write_bytes(header.binaryblock + bytes(4) + data.astype(">i2").tobytes(order="F"))
    reloaded = nib.load(path)
    assert reloaded.header.endianness == ">" and reloaded.get_data_dtype() == np.dtype(">i2")
    views = views_of(read_planes(str(path), Storage()))
    for view, expected in zip(views, canonical_slices(reloaded)):
        assert np.allclose(view.values, expected) and np.any(expected % 1 == 0.5)  # scaled
        assert view.values.dtype == np.float32


def test_the_affine_and_the_axes_are_nibabels(tmp_path: Path) -> None:
    """sform, qform (with qfac -1), neither (nibabel's flipped fallback), NIfTI-2, oblique and
    sheared matrices: the layout's affine is nibabel's best affine, its axes io_orientation's."""
    rng = np.random.default_rng(3)
    data = np.zeros((5, 6, 7), np.int16)
    checked = 0
    for version, codes, rotate in itertools.product((1, 2), ((1, 0), (0, 1), (0, 0)), (0, 1, 2)):
        turn = np.linalg.qr(rng.normal(size=(3, 3)))[0] if rotate else np.eye(3)
        if rotate == 2:
            turn = turn @ (np.eye(3) + 0.2 * rng.normal(size=(3, 3)))  # a shear too
        affine = np.eye(4)
        affine[:3, :3] = turn @ np.diag([1.5, 2.0, 3.0])
        affine[:3, 3] = rng.normal(size=3) * 50
        klass = nib.Nifti2Image if version == 2 else nib.Nifti1Image
        image = klass(data, affine)
        image.header.set_sform(affine, code=codes[1])  # qform: nibabel's nearest to the affine
        image.header.set_qform(affine, code=codes[0])
        image.header.set_data_offset(544 if version == 2 else 352)
        raw = image.header.binaryblock
        layout = read_layout(raw)
        expected = type(image.header)(raw).get_best_affine()
        assert np.allclose(layout.affine, expected, atol=1e-5), (version, codes, rotate)
        assert np.array_equal(closest_axes(layout.affine), nib.io_orientation(expected))
        checked += 1
    assert checked == 18


def counting_storage() -> tuple[Storage, list[int]]:
    """Local files, and the sizes of the reads made from them."""
    counts: list[int] = []

    class Counted(io.FileIO):
        def read(self, n: int = -1) -> bytes:
            data = super().read(n)
            counts.append(len(data))
            return data

    class Counting(Storage):
        def open(self, url: str, block_size: int = 0) -> Any:
            return Counted(url, "rb")

    return Counting(), counts


def test_a_4d_image_is_read_only_as_far_as_its_first_volume(tmp_path: Path) -> None:
    shape = (64, 64, 32, 40)
    rng = np.random.default_rng(1)
    data = rng.integers(0, 30000, shape, dtype=np.int16)  # incompressible: 10 MB compressed
    data[..., 0] = ball(shape, (3, 3, 3), 60)
    path = save(tmp_path / "bold.nii.gz", data, (3, 3, 3, 2))
    storage, reads = counting_storage()
    planes = read_planes(str(path), storage)
    assert planes.shape == shape
    assert sum(reads) < 2 * (64 * 64 * 32 * 2) + (2 << 20)  # ~1 volume, not 40
    first = nib.Nifti1Image(data[..., 0], np.diag([3, 3, 3, 1.0]))
    for view, expected in zip(views_of(planes), canonical_slices(first)):
        assert np.array_equal(view.values, expected)
    truncated = tmp_path / "cut.nii.gz"  # later volumes lost: the picture does not need them
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    assert np.array_equal(read_planes(str(truncated), Storage()).across[2], planes.across[2])
    assert "64x64x32x40, 3x3x3 mm, first volume" in describe(planes)


def test_reading_holds_the_planes_and_a_block_never_the_volume(tmp_path: Path) -> None:
    shape = (640, 640, 96)  # 79 MB of int16; its axes of 640 are sampled every 2nd voxel
    data = np.zeros(shape, np.int16)
    data[::7, ::5, :] = 1000
    path = save(tmp_path / "big.nii", data, (0.3, 0.3, 1.5))
    read_planes(str(path), Storage())  # imports and caches, outside the measurement
    tracemalloc.start()
    planes = read_planes(str(path), Storage())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8e6, f"{peak / 1e6:.1f} MB"
    assert [p.shape for p in planes.across] == [(320, 96), (320, 96), (320, 320)]
    assert planes.spacing == pytest.approx((0.6, 0.6, 1.5))


@pytest.mark.parametrize("block", [slices.BLOCK, 64])  # whole slabs a block; rows of voxels
def test_the_planes_are_the_volumes_own_slices_however_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    shape = (7, 5, 1100)  # the long axis sampled every 3rd slice
    data = np.random.default_rng(2).integers(-3000, 3000, shape, dtype=np.int16)
    path = save(tmp_path / "long.nii", data)
    monkeypatch.setattr(slices, "BLOCK", block)
    planes = read_planes(str(path), Storage())
    assert planes.cut == (3, 2, 550)
    expected = (data[3, :, ::3], data[:, 2, ::3], data[:, :, 550])
    for plane, slice_ in zip(planes.across, expected):
        assert np.array_equal(plane, slice_.astype(np.float32))
    assert planes.spacing == pytest.approx((1, 1, 3))


def test_what_cannot_be_drawn_says_why(tmp_path: Path) -> None:
    flat = write_nifti(tmp_path / "flat.nii", shape=(6, 7))
    with pytest.raises(ValueError, match="a 2D image has no 3D slices"):
        read_planes(str(flat), Storage())
    whole = save(tmp_path / "v.nii", ball((20, 20, 20), (1, 1, 1), 6))
    cut = tmp_path / "cut.nii"
    cut.write_bytes(whole.read_bytes()[:5000])
    with pytest.raises(ValueError, match="the file ends before its first volume does"):
        read_planes(str(cut), Storage())


def test_an_image_on_s3_is_drawn_as_the_same_file_on_disk(tmp_path: Path) -> None:
    from s3server import S3Server

    path = save(tmp_path / "t1.nii.gz", ball((30, 36, 24), (2, 2, 2), 20))
    server = S3Server().start()
    try:
        client = server.client()
        client.create_bucket(Bucket="pictures", ACL="public-read")
        client.upload_file(
            str(path), "pictures", "sub-01/t1.nii.gz", ExtraArgs={"ACL": "public-read"}
        )
        storage = Storage({"endpoint_url": server.url})
        remote = read_planes("s3://pictures/sub-01/t1.nii.gz", storage)
    finally:
        server.stop()
    local = read_planes(str(path), Storage())
    assert all(np.array_equal(a, b) for a, b in zip(remote.across, local.across))


# what a build draws -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Built:
    out: Path
    records: dict[str, dict[str, Any]]

    def picture(self, column: str) -> np.ndarray:
        return np.asarray(Image.open(self.out / self.records[column]["path"]))


SPHERE_ZOOMS = (3.0, 3.0, 12.0)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One build, a column per case: an anisotropic sphere, a 4D slab BOLD, a tiny image, a
    large matrix, a binary mask, a segmentation; three rows (one image each per column)."""
    root = tmp_path_factory.mktemp("previews")
    rows = ["subject,sphere,bold,tiny,large,mask,dseg"]
    for s in range(3):
        names = [f"s{s}_{c}.nii.gz" for c in ("sphere", "bold", "tiny", "large", "mask", "dseg")]
        save(root / names[0], ball((64, 64, 16), SPHERE_ZOOMS, 84, seed=s), SPHERE_ZOOMS)
        bold = np.repeat(ball((64, 64, 12), (3, 3, 3), 90, seed=s)[..., None], 5, axis=3)
        save(root / names[1], bold, (3, 3, 3, 2))
        save(root / names[2], ball((4, 5, 3), (1, 1, 1), 2, seed=s))
        if s == 0:  # made once (the slowest to make), then copied
            save(root / names[3], ball((520, 520, 32), (0.4, 0.4, 5), 100), (0.4, 0.4, 5))
        else:
            shutil.copyfile(root / "s0_large.nii.gz", root / names[3])
        d = distance((40, 48, 40), (2, 2, 2))
        save(root / names[4], (d < 30).astype(np.uint8), (2, 2, 2))
        save(root / names[5], np.select([d < 12, d < 24, d < 36], [1, 2, 4], 0).astype(np.int16))
        rows.append(",".join([f"s{s}", *names]))
    (root / "t.csv").write_text("\n".join(rows) + "\n")
    out = root / "out"
    result = run("build", str(root / "t.csv"), str(out), "-q")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / ".nifti2parquet" / "train" / "manifest.json").read_text())
    return Built(out, {r["column"]: r for r in manifest["previews"]})


def panels(built: Built, column: str) -> Iterator[tuple[int, list[np.ndarray]]]:
    picture = built.picture(column)
    for row, boxes in enumerate(built.records[column]["panels"]):
        yield row, [picture[t : t + h, x : x + w] for x, t, w, h in boxes]


def extent(panel: np.ndarray) -> tuple[int, int]:
    """(height, width) in pixels of what is near white (not the grey side letters)."""
    bright = (panel if panel.ndim == 2 else panel.max(axis=2)) > 200
    rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_a_sphere_of_anisotropic_voxels_is_a_circle_in_every_view(built: Built) -> None:
    for _, views in panels(built, "sphere"):
        for view in views:
            height, width = extent(view)
            assert abs(height / width - 1) <= 0.05, (height, width)
            assert abs(height - 168 * ROW_HEIGHT / 192) <= 0.05 * height  # 168 mm of 192 mm


def test_the_three_views_share_one_scale_and_the_row_height(built: Built) -> None:
    zooms = {"sphere": SPHERE_ZOOMS, "bold": (3, 3, 3), "large": (0.4, 0.4, 5), "dseg": (1,) * 3}
    mm = {"sphere": (192, 192, 192), "bold": (192, 192, 36), "large": (208, 208, 160)}
    mm["dseg"] = (40, 48, 40)
    for column in ("sphere", "bold", "large", "dseg"):
        x, y, z = mm[column]
        sizes = {"sagittal": (z, y), "coronal": (z, x), "axial": (y, x)}  # (height, width) mm
        for boxes in built.records[column]["panels"]:
            pixels = [(h, w) for _, _, w, h in boxes]
            scale = max(h for h, _ in pixels) / max(s[0] for s in sizes.values())
            for (h, w), (mm_h, mm_w) in zip(pixels, sizes.values()):
                assert abs(h - mm_h * scale) <= 1 and abs(w - mm_w * scale) <= 1, column
            row_width = max(x + w for x, _, w, _ in boxes) - min(x for x, _, _, _ in boxes)
            assert max(h for h, _ in pixels) == ROW_HEIGHT or row_width >= MAX_ROW_WIDTH - 1
            assert scale <= MAX_ZOOM / min(zooms[column]) + 1e-9


def test_typical_images_are_drawn_large_tiny_ones_not_past_their_voxels(built: Built) -> None:
    for _, views in panels(built, "sphere"):
        assert min(v.shape[0] for v in views) >= 200  # anatomy at a readable size
    for _, views in panels(built, "tiny"):  # 4x5x3 voxels of 1 mm: at most 8 pixels a voxel
        assert max(v.shape[0] for v in views) == 5 * MAX_ZOOM
        assert sorted(v.shape[1] for v in views) == [4 * MAX_ZOOM, 4 * MAX_ZOOM, 5 * MAX_ZOOM]
    picture = built.picture("large")
    assert picture.shape[1] <= MAX_ROW_WIDTH
    for _, views in panels(built, "large"):
        assert max(v.shape[0] for v in views) <= ROW_HEIGHT


def test_a_slab_stacks_its_flat_views_and_shows_its_first_volume(built: Built) -> None:
    for boxes in built.records["bold"]["panels"]:
        sagittal, coronal, axial = boxes
        assert sagittal[0] < axial[0] and coronal[0] < axial[0]  # one column, then the axial
        assert sagittal[1] + sagittal[3] < coronal[1]  # one above the other
        assert max(b[0] + b[2] for b in boxes) < sum(b[2] for b in boxes)  # narrower than a line


def test_masks_are_white_and_labels_keep_their_colours(built: Built) -> None:
    above_letters = slice(0, -LETTER - 4)  # the side letters are grey, in the lower corners
    for _, views in panels(built, "mask"):
        assert all(set(np.unique(v[above_letters])) == {0, 255} for v in views)
    colours = {tuple(PALETTE[v - 1]) for v in (1, 2, 4)}
    for _, views in panels(built, "dseg"):
        for view in views:
            found = {tuple(c) for c in np.unique(view[above_letters].reshape(-1, 3), axis=0)}
            assert found == colours | {(0, 0, 0)}, found


def caption_band(text: str, width: int) -> np.ndarray:
    band = Image.new("L", (width, CAPTION))
    from PIL import ImageDraw

    ImageDraw.Draw(band).text((2, 3), text, fill=235, font=ImageFont.load_default(size=TEXT))
    return np.asarray(band)


def test_each_row_is_captioned_with_its_column_path_and_geometry(built: Built) -> None:
    picture = built.picture("bold")
    record = built.records["bold"]
    assert record["images"] and set(record["images"]) <= {f"s{s}_bold.nii.gz" for s in range(3)}
    for name, boxes in zip(record["images"], record["panels"]):
        top = min(b[1] for b in boxes) - CAPTION  # the tallest view starts under the caption
        caption = f"bold: {name}   64x64x12x5, 3x3x3 mm, first volume"
        band = picture[top : top + CAPTION]
        want = caption_band(caption, picture.shape[1])
        assert np.array_equal(band[:, :600] > 100, want[:, :600] > 100), caption


# labels over their images -------------------------------------------------------------------------
def test_a_label_image_is_drawn_over_its_image(tmp_path: Path) -> None:
    shape, zooms = (40, 48, 36), (2.0, 2.0, 2.0)
    d = distance(shape, zooms)
    image = save(tmp_path / "t1.nii.gz", ball(shape, zooms, 34), zooms)
    segmentation = np.select([d < 10, d < 20], [1, 2], 0).astype(np.uint8)
    labels = save(tmp_path / "seg.nii.gz", segmentation, zooms)
    image_planes, label_planes = (read_planes(str(p), Storage()) for p in (image, labels))
    row = overlay_row(image_planes, label_planes, "label: seg.nii.gz over t1.nii.gz")
    plain = image_row(image_planes, "t1")
    for over, grey in zip(row.panels, plain.panels):
        assert over.shape == (*grey.shape, 3)
        untouched = np.all(over == grey[..., None], axis=2)
        tinted = ~untouched
        assert tinted.any() and untouched.any()
        outline = {tuple(PALETTE[0]), tuple(PALETTE[1])}
        edge_colours = {tuple(c) for c in over[tinted]}
        assert outline <= edge_colours  # each label outlined in its own colour
        centre = over[over.shape[0] // 2, over.shape[1] // 2].astype(int)
        expected = 0.65 * grey[grey.shape[0] // 2, grey.shape[1] // 2] + 0.35 * PALETTE[0]
        assert np.abs(centre - expected).max() <= 1  # label 1 filled, the image seen through
    moved = save(tmp_path / "moved.nii.gz", np.zeros(shape, np.uint8), (2.0, 2.0, 2.5))
    with pytest.raises(ValueError, match="not on its image's voxel grid"):
        overlay_row(image_planes, read_planes(str(moved), Storage()), "x")


def test_an_overlay_preview_is_written_and_recorded(tmp_path: Path) -> None:
    shape, zooms = (30, 30, 30), (2.0, 2.0, 2.0)
    pairs = []
    for case in range(4):
        image = save(tmp_path / f"img{case}.nii.gz", ball(shape, zooms, 24, seed=case), zooms)
        seg = (distance(shape, zooms) < 10 + case).astype(np.uint8)
        label = save(tmp_path / f"lab{case}.nii.gz", seg, zooms)
        refs = [FileRef(str(p), p.stat().st_size, p.name, p.name) for p in (image, label)]
        pairs.append((refs[0], refs[1]))
    output = OutputFolder(str(tmp_path / "out"))
    record = make_overlay_preview(output, "train", "label", pairs, Storage())
    assert record["path"] == "previews/train/label.png"
    png = (tmp_path / "out" / record["path"]).read_bytes()
    assert record["sha256"] == hashlib.sha256(png).hexdigest() and record["size"] == len(png)
    assert len(record["images"]) == 3 and Image.open(io.BytesIO(png)).mode == "RGB"


def test_an_overlay_cuts_through_the_most_labelled_slices(tmp_path: Path) -> None:
    shape, zooms = (30, 34, 26), (2.0, 2.0, 2.0)
    x, y, z = np.ogrid[:30, :34, :26]
    lesion = ((x - 7) ** 2 + (y - 25) ** 2 + (z - 19) ** 2 <= 9).astype(np.uint8)  # off centre
    image = save(tmp_path / "t1.nii.gz", ball(shape, zooms, 26), zooms)
    label = save(tmp_path / "lesion.nii.gz", lesion, zooms)
    assert most_labelled(str(label), Storage()) == (7, 25, 19)
    empty = save(tmp_path / "empty.nii.gz", np.zeros(shape, np.uint8), zooms)
    assert most_labelled(str(empty), Storage()) is None
    refs = tuple(FileRef(str(p), p.stat().st_size, p.name, p.name) for p in (image, label))
    record = make_overlay_preview(
        OutputFolder(str(tmp_path / "out")), "train", "lesion", [refs], Storage()
    )
    picture = np.asarray(Image.open(tmp_path / "out" / record["path"]))
    for x0, y0, w, h in record["panels"][0]:  # the lesion, in colour, in every view
        view = picture[y0 : y0 + h, x0 : x0 + w].astype(int)
        assert (np.abs(view[..., 0] - view[..., 2]) > 60).sum() > 20


# which images -------------------------------------------------------------------------------------
def test_each_part_of_a_column_offers_its_smallest_files_first() -> None:
    sizes = [50, 10, 30, 70, 20, 90, 40, 60, 15]
    parts = candidates(list(range(9)), lambda i: sizes[i])
    assert parts == [[1, 2], [4, 3], [8, 6]]  # rows 0-2, 3-5, 6-8; two tries each
    assert candidates([0], lambda i: 1) == [[0]]


def test_the_previews_read_each_columns_cheapest_image_then_what_their_budget_allows() -> None:
    mb = 1 << 20
    t1w = [[12 * mb, 13 * mb], [12 * mb], [14 * mb]]  # a column's parts, cheapest first
    masks = [[1 * mb], [1 * mb], [1 * mb]]
    # each image counts IMAGE_COST (a MB) more than its file
    # a GB of scans: 2% is 20 MB (over the floor); the first parts (13 + 2 MB), then the masks'
    assert within_budget([t1w, masks], lambda n: n, 1000 * mb) == [t1w[:1], masks]
    # 40 GB: every part of every column
    assert within_budget([t1w, masks], lambda n: n, 40_000 * mb) == [t1w, masks]
    # a small dataset: the floor (16 MB); a column's cheapest image whatever its size, which may
    # spend it: the first parts (15 MB), then one more mask (17 MB: over)
    assert within_budget([t1w, masks], lambda n: n, 0) == [t1w[:1], masks[:1]]
    assert within_budget([masks], lambda n: n, 0) == [masks]  # 3 + 3 MB
    # a GB of many small images (eight columns of 10 KB to 7 MB files, 16 MB for the first of
    # each with their drawing): the first of each column only, however cheap their files
    small = [
        [[n * mb // 100], [n * mb // 100], [n * mb // 100]]
        for n in (1, 3, 20, 30, 50, 125, 660, 670)
    ]
    assert within_budget(small, lambda n: n, 1000 * mb) == [parts[:1] for parts in small]
    huge = [[BUDGET_FLOOR * 2], [BUDGET_FLOOR * 3]]
    assert within_budget([huge, masks], lambda n: n, 0) == [huge[:1], masks[:1]]
    # the cheapest part first, wherever it is; what is kept stays in the dataset's order
    scans = [[50 * mb], [30 * mb, 40 * mb], [10 * mb]]
    assert within_budget([scans], lambda n: n, 1000 * mb) == [scans[2:]]
    assert within_budget([scans], lambda n: n, 2100 * mb) == [[scans[1], scans[2]]]
    assert within_budget([], lambda n: n, 0) == []


def test_an_image_that_cannot_be_drawn_gives_way_to_the_next_of_its_part(tmp_path: Path) -> None:
    write_nifti(tmp_path / "flat.nii", shape=(6, 7))  # 2D: the smallest, and no slices to draw
    for i in range(5):
        save(tmp_path / f"v{i}.nii", ball((10 + i, 10, 10), (1, 1, 1), 4))
    (tmp_path / "t.csv").write_text("a\nflat.nii\nv0.nii\nv1.nii\nv2.nii\nv3.nii\nv4.nii\n")
    out = tmp_path / "out"
    result = run("build", str(tmp_path / "t.csv"), str(out), "-q")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / ".nifti2parquet" / "train" / "manifest.json").read_text())
    (record,) = manifest["previews"]
    assert record["images"] == ["v0.nii", "v1.nii", "v3.nii"]  # smallest of each third
    assert record["notes"] == [
        "flat.nii: cannot be decoded for a preview (a 2D image has no 3D slices)"
    ]
    card = (out / "README.md").read_text()
    assert "Note: flat.nii: cannot be decoded for a preview" in card


def test_drawing_during_the_build_gives_the_same_pictures(tmp_path: Path) -> None:
    from nifti2parquet.sources.table.reader import read_table_source

    for i in range(3):
        save(tmp_path / f"v{i}.nii.gz", ball((12, 14, 10), (2, 2, 2), 8, seed=i), (2, 2, 2))
    (tmp_path / "t.csv").write_text("a\nv0.nii.gz\nv1.nii.gz\nv2.nii.gz\n")
    rows = read_table_source(str(tmp_path / "t.csv"), Storage())
    early = PreviewDrawing(rows, Storage())
    assert not (tmp_path / "out").exists()  # drawing writes nothing
    records = early.records(OutputFolder(str(tmp_path / "out")), rows, "train")
    direct = draw_previews(rows, Storage())
    assert [r["sha256"] for r in records] == [hashlib.sha256(p.png).hexdigest() for p in direct]


def test_label_images_are_told_by_their_values_or_their_name(tmp_path: Path) -> None:
    d = distance((20, 20, 20), (1, 1, 1))
    cases = {
        "t1.nii": (ball((20, 20, 20), (1, 1, 1), 7), "t1w", False),
        "probseg.nii": ((d < 7) * 0.7 + 0.1, "probseg", False),  # fractions: an intensity
        "m.nii": ((d < 7).astype(np.float32), "brain_mask", True),  # a float mask
        "aparc.nii": ((d * 10).astype(np.int32), "aparc", True),  # many labels, named so
        "many.nii": ((d * 10).astype(np.int32), "values", False),  # as many, not named so
        "few.nii": ((d // 3).astype(np.uint8), "values", True),  # whole numbers, few values
    }
    for name, (data, column, label) in cases.items():
        planes = read_planes(str(save(tmp_path / name, data)), Storage())
        assert is_label_image(planes, column, name) is label, name


# the build's records, the card, verify -----------------------------------------------------------
def test_previews_are_recorded_linked_and_verified(built: Built, tmp_path: Path) -> None:
    assert set(built.records) == {"sphere", "bold", "tiny", "large", "mask", "dseg"}
    for column, record in built.records.items():
        png = (built.out / record["path"]).read_bytes()
        assert record["path"] == f"previews/train/{column}.png"
        assert len(png) == record["size"] and hashlib.sha256(png).hexdigest() == record["sha256"]
        assert Image.open(io.BytesIO(png)).format == "PNG"
        assert len(record["images"]) == len(record["panels"])
    shown = {column: len(record["images"]) for column, record in built.records.items()}
    # 16 MB, each image counting a MB more than its file: the columns' first images (the large
    # one's 8 MB, the others' a few KB: 14 MB with their drawing) leave room for one more, the
    # first column's second (never another 8 MB one)
    assert shown == {"sphere": 2, "bold": 1, "tiny": 1, "large": 1, "mask": 1, "dseg": 1}
    card = (built.out / "README.md").read_text()
    for record in built.records.values():
        assert f"![{record['column']}]({record['path']})" in card
    assert "a 4D image shows its first volume" in card and "physical proportions" in card
    ok = run("verify", str(built.out), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["checked"]["previews"] == 6
    copy = tmp_path / "copy"
    shutil.copytree(built.out, copy)
    (copy / "previews" / "train" / "mask.png").write_bytes(b"not a png")
    bad = run("verify", str(copy))
    assert bad.returncode == 1
    assert "previews/train/mask.png: differs from the preview the build drew" in bad.stderr


def test_a_column_without_a_drawable_image_gets_a_note_not_a_failed_build(tmp_path: Path) -> None:
    write_nifti(tmp_path / "flat.nii", shape=(6, 7))  # 2D: no slices to draw
    write_nifti(tmp_path / "vol.nii", shape=(6, 7, 5))
    (tmp_path / "t.csv").write_text("a,b\nflat.nii,vol.nii\n")
    result = run("build", str(tmp_path / "t.csv"), str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / ".nifti2parquet/train/manifest.json").read_text())
    records = {r["column"]: r for r in manifest["previews"]}
    assert not records["a"]["path"] and records["a"]["images"] == []
    assert records["a"]["notes"][0].startswith("flat.nii: cannot be decoded for a preview")
    assert (tmp_path / "out" / records["b"]["path"]).exists()
    card = (tmp_path / "out" / "README.md").read_text()
    assert "No preview: none of the images chosen could be decoded." in card


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
    manifest = json.loads((out / ".nifti2parquet" / "train" / "manifest.json").read_text())
    assert manifest["previews"] == []


def test_the_window_is_numpys_percentile_to_the_last_bit() -> None:
    rng = np.random.default_rng(0)
    checked = 0
    for n in (1, 2, 3, 7, 42, 199, 1000, 65536, 250_000):
        for values in (
            rng.normal(100, 50, n),
            rng.integers(0, 3, n),
            rng.integers(-1000, 4000, n),
            rng.random(n) ** 8 * 1e4,
        ):
            values = values.astype(np.float32)
            expected = np.percentile(values, [0.5, 99.5])
            got = percentiles(values, (0.5, 99.5))
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (n, got)
            checked += 1
    assert checked == 36


def test_distinct_values_are_counted_as_numpy_counts_them() -> None:
    rng = np.random.default_rng(1)
    cases = [
        np.zeros(0, np.float32),
        np.full(9, -3, np.float32),
        rng.integers(0, 5, 10_000).astype(np.float32),
        rng.integers(-32768, 32767, 100_000).astype(np.float32),
        (rng.integers(0, 40, 1000) * 1e7).astype(np.float32),  # a range too long to histogram
    ]
    assert [distinct_count(v) for v in cases] == [len(np.unique(v)) for v in cases]
