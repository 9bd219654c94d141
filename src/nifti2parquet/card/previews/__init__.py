"""Pictures for the dataset page: the Hub's viewer cannot show NIfTI, so the card shows PNGs.

For each image column, one PNG: a row per image shown (up to three, within a budget of bytes
read: see ``choosing``), each row a
caption and the image's middle sagittal, coronal and axial slices in physical proportions and
RAS+ orientation (``resampling``), intensities windowed or labels in colour (``shading``), laid
out by ``composition``. Only what a picture needs is read (``slices``): the first volume of each
image shown, streamed once, in a few MB of memory whatever the image's size; local or remote.

An image that cannot be drawn is left out of the picture with a note (and the next smallest of its
part of the column is tried); a column none of whose images can be drawn gets no picture and a
note: a preview never fails a build.

The PNGs are written to ``previews/{split}/{column}.png`` in the output (so ``push`` uploads them
and the card's relative links render on the Hub), and recorded in the manifest: ``column``,
``path``, ``size``, ``sha256``, ``images`` (the paths shown, one per row), ``panels`` (per row,
each view's ``[left, top, width, height]`` in the picture) and ``notes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ...shards.manifest import Manifest
from ...shards.output import OutputFolder
from .choosing import IMAGES_PER_COLUMN
from .composition import Row, compose, image_row, overlay_row
from .pictures import PREVIEWS, PreviewDrawing, make_overlay_preview, make_previews, preview_path
from .resampling import VIEWS

__all__ = [
    "IMAGES_PER_COLUMN",
    "PREVIEWS",
    "PreviewDrawing",
    "Row",
    "check_previews",
    "compose",
    "image_row",
    "make_overlay_preview",
    "make_previews",
    "overlay_row",
    "preview_path",
    "previews_section",
]


def check_previews(output: OutputFolder, manifest: Manifest) -> tuple[list[tuple[str, str]], int]:
    """(path, problem) for each recorded preview that is missing or not what the build drew, and
    how many were checked."""
    problems, checked = [], 0
    for record in manifest.previews:
        if not record.path:
            continue
        checked += 1
        if not output.exists(record.path):
            problems.append((record.path, "preview missing (the card links to it)"))
            continue
        with output.open_read(record.path) as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != record.sha256:
            problems.append((record.path, "differs from the preview the build drew"))
    return problems, checked


# the card ----------------------------------------------------------------------------------------
def previews_section(manifests: Sequence[Manifest]) -> str:
    """The card's pictures, linked relatively so the Hub page renders them from the repo."""
    lines = [
        "## Previews\n",
        f"The middle {', '.join(VIEWS)} slices of up to {IMAGES_PER_COLUMN} images of each "
        "image column (from the start, the middle and the end of the dataset, the smallest "
        "files there, fewer when they would cost more than 2% of the build's reading; one row "
        "each, captioned with its path, matrix and voxel size), in "
        "physical proportions and RAS+ orientation (the subject's right on the right, L/R and "
        "P/A marked); a 4D image shows its first volume. Intensities are windowed to each "
        "image's 0.5th–99.5th percentile; label and mask images show each value in its own "
        "colour.\n",
    ]
    several = len(manifests) > 1
    for manifest in manifests:
        for record in manifest.previews:
            title = f"`{record.column}`" + (f" ({manifest.split})" if several else "")
            lines.append(f"### {title}\n")
            if record.path:
                lines.append(f"![{record.column}]({record.path})\n")
                shown = ", ".join(f"`{name}`" for name in record.images)
                lines.append(f"Shown: {shown}.\n")
            else:
                lines.append("No preview: none of the images chosen could be decoded.\n")
            lines += [f"Note: {note}\n" for note in record.notes]
    return "\n".join(lines)
