"""NIfTI file names: which names are images (``.nii``, ``.nii.gz``, any case) and their stems."""

from __future__ import annotations

IMAGE_SUFFIXES = (".nii", ".nii.gz")  # matched case-insensitively


def nifti_suffix(name: str) -> str | None:
    """The NIfTI suffix ``name`` ends with (``.nii.gz`` or ``.nii``, case preserved), or None."""
    lower = name.lower()
    for ext in (".nii.gz", ".nii"):  # longest first
        if lower.endswith(ext):
            return name[len(name) - len(ext) :]
    return None


def _basename(name: str) -> str:
    """The last component of a path written with ``/`` or ``\\`` (asked of every listed file)."""
    return name[max(name.rfind("/"), name.rfind("\\")) + 1 :]


def is_nifti_name(name: str) -> bool:
    """True for ``x.nii``, ``x.nii.gz``, ``X.NII.GZ``; not ``.hdr``, ``.img``, ``x.nii.gz.json``."""
    base = _basename(name)
    ext = nifti_suffix(base)
    return ext is not None and len(base) > len(ext)


def nifti_stem_and_ext(name: str) -> tuple[str, str]:
    """Split the file name (last path component) into stem and NIfTI suffix, case preserved.

    ``"sub-01/anat/sub-01_T1w.nii.gz"`` -> ``("sub-01_T1w", ".nii.gz")``. Raises ValueError for a
    name that :func:`is_nifti_name` rejects.
    """
    base = _basename(name)
    ext = nifti_suffix(base)
    if ext is None or len(base) == len(ext):
        raise ValueError(f"not a NIfTI file name (expected .nii or .nii.gz): {name!r}")
    return base[: -len(ext)], ext
