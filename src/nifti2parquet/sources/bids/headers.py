"""The cheap check of every image to build, run once here: its header becomes data.

``nifti.check_image`` reads a few KB per file (never the voxels). Its header gives the summary
columns (shape, voxel sizes, data type, NIfTI version); an image that fails the check is left out
as an error with one line per file, which the build turns into a stop (``--on-error fail``) or a
skip (``--on-error skip``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...common.batched import map_batched
from ...common.errors import Problem
from ...common.nifti import ImageCheck, NiftiHeader, check_image
from ...common.storage import CHECK_BLOCK, Storage
from .crawl import file_url
from .tree import ImageFile


@dataclass(frozen=True)
class HeaderResults:
    headers: dict[str, NiftiHeader]  # by relative path, for the images that passed
    errors: tuple[Problem, ...]  # one per image that failed
    warnings: tuple[Problem, ...]


def check_headers(
    root: str, images: Sequence[ImageFile], storage: Storage, threads: int = 16
) -> HeaderResults:
    def one(image: ImageFile) -> ImageCheck:
        """check_image opens the file itself and reports a failure to read it as a problem."""
        url = file_url(root, image.entry.on_disk)
        return check_image(image.rel, lambda: storage.open(url, CHECK_BLOCK), image.entry.size)

    results = map_batched(one, images, threads, "n2p-bids-check")
    headers: dict[str, NiftiHeader] = {}
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for image, result in zip(images, results):
        if result.ok and result.header is not None:
            headers[image.rel] = result.header
        else:
            messages = [p.message for p in result.problems if p.severity == "error"]
            errors.append(Problem(image.rel, "; ".join(messages) or "no readable NIfTI header"))
        warnings += [p for p in result.problems if p.severity == "warning"]
    return HeaderResults(headers, tuple(errors), tuple(warnings))
