"""Whether each anatomical image is defaced: what the dataset says, and what the voxels show.

A face can be rebuilt from a structural scan; OpenNeuro requires defaced anatomicals. For each
anatomical image of a BIDS source (an image under ``anat/`` that can show a head: not a mask, a
segmentation or a defacing mask, which are never counted as defaced images):

* what the dataset says (first found wins): a ``Defaced``-style sidecar field (``true`` or
  ``false``), a ``rec-defaced``/``desc-defaced`` entity or a ``defaced`` word in the file name, a
  defacing mask next to it that names it (``sub-1_mod-MP2RAGE_defacemask.nii.gz`` names the
  subject's MP2RAGE images; without ``mod``, every anatomical image of its folder), a derivative
  pipeline named after defacing (``derivatives/pydeface/``), or ``dataset_description.json``
  naming a defacing tool;
* what the voxels show (:mod:`.privacy_face`): tissue in the face region, or the face region
  zeroed where the back of the head is not. Local images only: for a remote source (``s3://``)
  the check would download every anatomical image once more, so what the dataset says decides.

The voxels decide when they can; what the dataset says decides when they cannot (and a
disagreement is said). The result is ``defaced``, ``not defaced`` or ``cannot tell``, with why.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from ..common.helper_process import Helper, SplitPass
from ..common.rows import FileRef, SourceRows
from ..common.storage import Storage
from ..common.tables import decode_text

if TYPE_CHECKING:  # the voxel check (numpy) is imported when there are anatomical images
    from .privacy_face import FaceCheck

Status = Literal["defaced", "not defaced", "cannot tell"]
_DEFACE = re.compile(r"defac|skull-?strip|mri_deface|pydeface|quickshear|mideface", re.I)
_FALSE = {"false", "no", "0", "", "none"}
_DEFACE_MASKS = ("_defacemask.nii", "_defacemask.nii.gz")
_PIPELINE = re.compile(r"derivatives/([^/]+)/")  # a derivative's pipeline folder
_NOT_A_HEAD = re.compile(r"(mask|seg|label)$", re.I)  # suffixes of masks and label images
# The voxel checks' module, imported only when images are read (it brings numpy)
FACE_MODULE = "nifti2parquet.preflight.privacy_face"


@dataclass(frozen=True, slots=True)  # one per anatomical image, held until the build's end
class Defacing:
    path: str  # the anatomical image
    status: Status
    why: str  # what the voxels show and where the dataset says so


def defacing_report(
    rows: SourceRows,
    storage: Storage,
    threads: int = 4,
    voxels: bool = True,
    pool: Executor | None = None,
    helper: Helper | None = None,
) -> Callable[[], tuple[Defacing, ...]]:
    """One entry per anatomical image of a BIDS source; ``voxels`` False: statements only.

    The voxel checks begin now (on ``helper``, a second process, when given); the returned
    function finishes them and gives the report."""
    images = _anatomical(rows)
    if not images:
        return lambda: ()
    from .privacy_face import face_checks

    work = partial(face_checks, storage=storage, threads=threads, voxels=voxels)
    helper = helper if voxels else None  # nothing to read: no work worth sending
    checks = SplitPass(helper, work, images, plain=_url_and_size, pool=pool)

    said = _statements(rows, storage, images)  # here, while the helper checks the voxels

    def report() -> tuple[Defacing, ...]:
        whys: dict[str, str] = {}  # most images share a reason: one string for them all
        found = (
            _one(img.display, said.get(img.display), c) for img, c in zip(images, checks.results())
        )
        return tuple(Defacing(d.path, d.status, whys.setdefault(d.why, d.why)) for d in found)

    return report


def _url_and_size(image: FileRef) -> tuple[str, int]:
    """What the voxel checks are given: plain data, so the helper imports less."""
    return image.url, image.size


def is_head_image(path: str) -> bool:
    """An anatomical image that can show a head (not a mask, segmentation or defacing mask)."""
    if "/anat/" not in f"/{path}":
        return False
    stem = posixpath.basename(path).split(".", 1)[0]
    return not _NOT_A_HEAD.search(stem.rsplit("_", 1)[-1])


def _anatomical(rows: SourceRows) -> list[FileRef]:
    seen: dict[str, FileRef] = {}
    for _, _, img in rows.images():
        if is_head_image(img.display):
            seen.setdefault(img.display, img)
    return list(seen.values())


def _one(path: str, said: tuple[bool, str] | None, check: FaceCheck) -> Defacing:
    if check.verdict != "cannot tell":
        why = check.why
        if said is not None:
            agree = said[0] == (check.verdict == "defaced")
            verb = "says so too" if agree else "says otherwise"
            why += f"; the dataset {verb} ({said[1]})"
        return Defacing(path, check.verdict, why)
    if said is not None:
        status: Status = "defaced" if said[0] else "not defaced"
        return Defacing(path, status, f"the dataset says so ({said[1]}); the image: {check.why}")
    return Defacing(path, "cannot tell", f"the dataset does not say; the image: {check.why}")


def _statements(
    rows: SourceRows, storage: Storage, images: list[FileRef]
) -> dict[str, tuple[bool, str]]:
    """Image → (defaced?, where the dataset says so)."""
    said: dict[str, tuple[bool, str]] = {}
    extra = dict(rows.info.extra)
    described = " ".join([extra.get("GeneratedBy", ""), rows.info.description])
    masks = _defacing_masks(rows)
    sidecars = _sidecar_statements(rows, storage)
    for img in images:
        path = img.display
        name = posixpath.basename(path)
        pipeline = _PIPELINE.match(path)
        if path in sidecars:
            said[path] = sidecars[path]
        elif _DEFACE.search(name):
            said[path] = (True, "file name")
        elif _masked_by(path, masks):
            said[path] = (True, f"defacing mask {_masked_by(path, masks)}")
        elif pipeline and _DEFACE.search(pipeline.group(1)):
            said[path] = (True, f"derivative pipeline {pipeline.group(1)}")
        elif _DEFACE.search(described):
            said[path] = (True, "dataset_description.json or README")
    return said


def _defacing_masks(rows: SourceRows) -> list[str]:
    """The defacing masks of the dataset (images or other files: ``*_defacemask.nii[.gz]``)."""
    paths = [img.display for _, _, img in rows.images()] + [f.display for f in rows.other_files]
    return sorted({p for p in paths if p.endswith(_DEFACE_MASKS)})


def _masked_by(path: str, masks: Iterable[str]) -> str:
    """The defacing mask that names ``path``: same folder, same entities, and ``mod-<suffix>``
    naming its suffix (or no ``mod``: every anatomical image of the folder)."""
    folder, name = posixpath.split(path)
    suffix = name.split(".", 1)[0].rsplit("_", 1)[-1]
    entities = dict(_entities(name))
    for mask in masks:
        mask_folder, mask_name = posixpath.split(mask)
        if mask_folder != folder:
            continue
        mask_entities = dict(_entities(mask_name))
        modality = mask_entities.pop("mod", None)
        if modality not in (None, suffix):
            continue
        if all(entities.get(k) == v for k, v in mask_entities.items()):
            return mask_name
    return ""


def _entities(name: str) -> list[tuple[str, str]]:
    chunks = name.split(".", 1)[0].split("_")[:-1]
    return [tuple(c.split("-", 1)) for c in chunks if "-" in c]  # type: ignore[misc]


def _sidecar_statements(rows: SourceRows, storage: Storage) -> dict[str, tuple[bool, str]]:
    """Image → (defaced?, field) from the sidecars that describe anatomical images."""
    found: dict[str, tuple[bool, str]] = {}
    for meta in rows.metadata_files:
        if meta.role != "sidecar" or not any("/anat/" in f"/{d}" for d in meta.describes):
            continue
        try:
            text = decode_text(storage.read(meta.url), meta.display)[0]
            # a key that says so is in the text as written, unless spelt with \u escapes
            if not _DEFACE.search(text) and "\\u" not in text:
                continue
            data = json.loads(text)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if _DEFACE.search(key):
                said = (str(value).strip().lower() not in _FALSE, f"sidecar field {key}")
                for image in meta.describes:
                    found[image] = said  # deeper sidecars come later and win
    return found
