"""A segmentation dataset as SOURCE: the Medical Segmentation Decathlon and nnU-Net raw layouts.

A folder with a ``dataset.json`` and ``imagesTr/`` (or ``imagesTs/``): MSD's ``Task01_BrainTumour``
(one file per case, the channels along its 4th dimension) or nnU-Net's
``Dataset001_BrainTumour`` (one file per channel, ``{case}_0000.nii.gz``). One row per case, with
its images, its label and their header summary; the split is the folder: ``imagesTr/`` is the
``train`` split, ``imagesTs/`` the ``test`` split, each built by its own ``build --split`` into
the same OUTPUT_DIR. Every other file of the folder (``dataset.json`` itself, a
``splits_final.json``, a README, a licence) is published in the ``files`` config, so ``export``
gives the folder back byte for byte, for nnU-Net to plan and train on.

The steps, each in its own module: :mod:`.description` reads ``dataset.json``; :mod:`.cases`
sorts the listing into the split's cases, other files and files left out (:mod:`.names` knows
the folders and file names); :mod:`.columns` checks every header and lays the cases out in rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import SourceKind

if TYPE_CHECKING:
    from ...common.rows import SourceRows
    from ...common.selection import Selection
    from ...common.storage import Storage
    from ..options import SourceOptions
    from ..registry import PathReason

__all__ = ["KIND"]


def _recognises(source: str, storage: Storage) -> bool:
    from .reader import is_segmentation_folder

    return is_segmentation_folder(source, storage)


def _read(source: str, options: SourceOptions) -> SourceRows:
    from .reader import read_segmentation_source

    return read_segmentation_source(source, options)


def _path_reason(selection: Selection) -> PathReason:
    from .names import case_path_reason

    return case_path_reason(selection)


# The kind alone: what reads a dataset is imported when it is used (see ``sources.bids``)
KIND = SourceKind(
    name="segmentation",
    noun="segmentation dataset",
    label="a segmentation dataset (MSD or nnU-Net: a folder with dataset.json and imagesTr/)",
    recognises=_recognises,
    read=_read,
    path_reason=_path_reason,
)
