"""Pictures for the dataset page: the Hub's viewer cannot show NIfTI, so the card shows PNGs.

For each image column, a few representative images (the first, middle and last one of the column
in row order) are decoded from their files and drawn as one PNG: a row per image, and in it the
middle sagittal, coronal and axial slices. Each volume is first turned to RAS+ (nibabel's closest
canonical orientation, from the affine), each slice is rotated so that up is superior (sagittal,
coronal) or anterior (axial), and intensities are windowed to the volume's 1st–99th percentile;
a 4D (or higher) image shows its first volume. Slices wider than ``MAX_PANEL`` pixels are thinned
by an integer stride.

Cost is bounded whatever the dataset's size: only the images shown are opened, through
nibabel's proxies (one volume is read; an uncompressed file is memory-mapped, a gzipped one
streamed). An image that cannot be decoded is left out of the picture with a note; a column none
of whose images decode gets no picture and a note: a preview never fails a build.

The PNGs are written to ``previews/{split}/{column}.png`` in the output (so ``push`` uploads them
and the card's relative links render on the Hub), and recorded in the manifest with their size,
sha256, the images shown and where each slice is in the picture.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import re
from collections.abc import Sequence
from typing import Any

from ..shards.manifest import Manifest
from ..shards.output import OutputFolder
from ..common.storage import Storage
from ..common.nifti import GZIP_MAGIC, quiet_nibabel
from ..common.rows import FileRef, SourceRows

PREVIEWS = "previews"
IMAGES_PER_COLUMN = 3
MAX_PANEL = 256  # pixels: a longer slice side is thinned by an integer stride
GAP = 4  # pixels between panels
VIEWS = ("sagittal", "coronal", "axial")


def preview_path(split: str, column: str) -> str:
    return f"{PREVIEWS}/{split}/{re.sub(r'[^A-Za-z0-9._-]+', '_', column)}.png"


def representative(images: Sequence[FileRef], n: int = IMAGES_PER_COLUMN) -> list[FileRef]:
    """The first, middle and last images (distinct files), in row order."""
    if not images:
        return []
    picks = sorted({0, len(images) // 2, len(images) - 1})[:n]
    chosen: list[FileRef] = []
    for i in picks:
        if images[i].url not in {c.url for c in chosen}:
            chosen.append(images[i])
    return chosen


def make_previews(
    output: OutputFolder, rows: SourceRows, split: str, storage: Storage
) -> tuple[dict[str, Any], ...]:
    """Write one PNG per image column; return the manifest's records (one per column, with a
    ``note`` and no ``path`` when nothing could be drawn)."""
    records = []
    for c in rows.image_columns:
        column = rows.columns[c].name
        images = [img for _, col, img in rows.images() if col == c]
        if images:
            records.append(_column_preview(output, split, column, images, storage))
    return tuple(records)


def _column_preview(
    output: OutputFolder, split: str, column: str, images: list[FileRef], storage: Storage
) -> dict[str, Any]:
    slices, shown, notes = [], [], []
    for image in representative(images):
        try:
            slices.append(middle_slices(load_volume(image.url, storage)))
            shown.append(image.display)
        except Exception as exc:  # any failure to decode: a note, never a failed build
            notes.append(f"{image.display}: cannot be decoded for a preview ({_plain(exc)})")
    record: dict[str, Any] = {"column": column, "images": shown, "notes": notes}
    if not slices:
        return record
    png, panels = render_png(slices)
    path = preview_path(split, column)
    output.makedirs(path.rsplit("/", 1)[0])
    output.write_bytes_atomic(path, png)
    record.update(path=path, size=len(png), sha256=hashlib.sha256(png).hexdigest(), panels=panels)
    return record


def load_volume(url: str, storage: Storage) -> Any:
    """The first 3D volume of the image at ``url``, in RAS+ orientation, as float32."""
    import nibabel as nib
    import numpy as np

    with storage.open(url) as raw:
        stream: Any = gzip.GzipFile(fileobj=raw) if raw.read(2) == GZIP_MAGIC else raw
        raw.seek(0)
        sizeof_hdr = stream.read(4)
        stream.seek(0)
        klass = nib.Nifti2Image if 540 in _ints(sizeof_hdr) else nib.Nifti1Image
        holder = nib.FileHolder(fileobj=stream)
        with quiet_nibabel():
            img = klass.from_file_map({"header": holder, "image": holder})
            if len(img.shape) < 3:
                raise ValueError(f"a {len(img.shape)}D image has no 3D slices")
            index = (slice(None),) * 3 + (0,) * (len(img.shape) - 3)
            volume = np.asarray(img.dataobj[index])
    if np.iscomplexobj(volume):
        volume = np.abs(volume)
    if volume.dtype.names:  # RGB voxels: their mean
        volume = np.mean([volume[n] for n in volume.dtype.names], axis=0)
    ornt = nib.orientations.io_orientation(img.affine)
    return nib.orientations.apply_orientation(volume.astype(np.float32), ornt)


def _ints(data: bytes) -> set[int]:
    return {int.from_bytes(data, "little"), int.from_bytes(data, "big")}


def window(volume: Any) -> Any:
    """Intensities to 0-255: the 1st percentile is black, the 99th white."""
    import numpy as np

    finite = volume[np.isfinite(volume)]
    if finite.size == 0:
        return np.zeros(volume.shape, np.uint8)
    low, high = (float(v) for v in np.percentile(finite, [1, 99]))
    span = high - low if high > low else 1.0
    scaled = np.clip((np.nan_to_num(volume, nan=low) - low) / span, 0.0, 1.0)
    return np.round(scaled * 255).astype(np.uint8)


def middle_slices(volume: Any) -> list[Any]:
    """Windowed middle sagittal, coronal and axial slices, superior (or anterior) up."""
    import numpy as np

    shade = window(volume)
    x, y, z = (n // 2 for n in shade.shape)
    views = [shade[x, :, :], shade[:, y, :], shade[:, :, z]]
    return [_thin(np.rot90(v)) for v in views]


def _thin(panel: Any) -> Any:
    stride = max(1, math.ceil(max(panel.shape) / MAX_PANEL))
    return panel[::stride, ::stride]


def render_png(rows: list[list[Any]]) -> tuple[bytes, list[list[list[int]]]]:
    """One grayscale PNG: a row of panels per image. Returns the PNG and, per image, each
    panel's [left, top, width, height] in it."""
    import numpy as np
    from PIL import Image

    heights = [max(p.shape[0] for p in row) for row in rows]
    widths = [sum(p.shape[1] for p in row) + GAP * (len(row) - 1) for row in rows]
    canvas = np.zeros((sum(heights) + GAP * (len(rows) - 1), max(widths)), np.uint8)
    layout, top = [], 0
    for row, height in zip(rows, heights):
        left, boxes = 0, []
        for panel in row:
            h, w = panel.shape
            canvas[top : top + h, left : left + w] = panel
            boxes.append([left, top, w, h])
            left += w + GAP
        layout.append(boxes)
        top += height + GAP
    buffer = io.BytesIO()
    Image.fromarray(canvas, "L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), layout


def _plain(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def check_previews(output: OutputFolder, manifest: Manifest) -> tuple[list[tuple[str, str]], int]:
    """(path, problem) for each recorded preview that is missing or not what the build drew, and
    how many were checked."""
    problems, checked = [], 0
    for record in manifest.previews:
        if not record.get("path"):
            continue
        checked += 1
        if not output.exists(record["path"]):
            problems.append((record["path"], "preview missing (the card links to it)"))
            continue
        with output.open_read(record["path"]) as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != record["sha256"]:
            problems.append((record["path"], "differs from the preview the build drew"))
    return problems, checked


# the card ----------------------------------------------------------------------------------------
def previews_section(manifests: Sequence[Manifest]) -> str:
    """The card's pictures, linked relatively so the Hub page renders them from the repo."""
    lines = [
        "## Previews\n",
        f"The middle {', '.join(VIEWS)} slices of up to {IMAGES_PER_COLUMN} images of each "
        "image column (the first, middle and last; one row each), in RAS+ orientation with "
        "intensities windowed to each image's 1st–99th percentile; a 4D image shows its first "
        "volume.\n",
    ]
    several = len(manifests) > 1
    for manifest in manifests:
        for record in manifest.previews:
            title = f"`{record['column']}`" + (f" ({manifest.split})" if several else "")
            lines.append(f"### {title}\n")
            if record.get("path"):
                lines.append(f"![{record['column']}]({record['path']})\n")
                shown = ", ".join(f"`{name}`" for name in record["images"])
                lines.append(f"Shown: {shown}.\n")
            else:
                lines.append("No preview: none of the images chosen could be decoded.\n")
            lines += [f"Note: {note}\n" for note in record.get("notes", [])]
    return "\n".join(lines)
