"""The cheap check of every image to build, run once here: its header becomes data.

``nifti.check_image`` reads a few KB per file (never the voxels). Its header gives the summary
columns (shape, voxel sizes, data type, NIfTI version); an image that fails the check is left out
as an error with one line per file, which the build turns into a stop (``--on-error fail``) or a
skip (``--on-error skip``). The checks begin on the helper process (a second core) as soon as the
images are known, while the crawl reads the sidecars and tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from ...common.errors import Problem
from ...common.helper_process import Helper, SplitPass
from ...common.nifti import NiftiHeader, check_files, sort_checks
from ...common.storage import Storage
from .crawl import file_url
from .tree import ImageFile

HELPER_MODULES = (check_files.__module__,)  # what the helper imports before it is ready


@dataclass(frozen=True)
class HeaderResults:
    headers: dict[str, NiftiHeader]  # by relative path, for the images that passed
    errors: tuple[Problem, ...]  # one per image that failed
    warnings: tuple[Problem, ...]


def check_headers(
    root: str,
    images: Sequence[ImageFile],
    storage: Storage,
    threads: int = 16,
    helper: Helper | None = None,
) -> Callable[[], HeaderResults]:
    """Begin checking every image (on ``helper`` when given); the returned function finishes."""
    work = partial(check_files, storage=storage, threads=threads)
    checks = SplitPass(helper, work, images, plain=partial(_name_url_size, root))

    def finish() -> HeaderResults:
        names = (image.rel for image in images)
        done = sort_checks(names, checks.results(), "no readable NIfTI header")
        return HeaderResults(done.headers, tuple(done.errors), tuple(done.warnings))

    return finish


def _name_url_size(root: str, image: ImageFile) -> tuple[str, str, int]:
    """What the check is given: plain data, so the helper imports less."""
    return image.rel, file_url(root, image.entry.on_disk), image.entry.size
