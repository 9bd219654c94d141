"""The NIfTI parser: a NIfTI file read from its bytes, without loading the voxels.

``names`` (which file names are images), ``header`` (the header's fields), ``diagnosis`` (what a
file that is not NIfTI is), ``gunzip`` (gzip streamed in constant memory), ``checks`` (the cheap
:func:`check_image` and the decoding :func:`deep_check`), ``header_block`` (every byte before the
voxels) and ``header_text`` (the header's free text). The names below are the package's API.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import (
        EMPTY_MESSAGE,
        MAX_VALUE_BYTES,
        NIFTI2_WARNING,
        ImageCheck,
        SortedChecks,
        check_files,
        check_image,
        check_stored,
        deep_check,
        quiet_nibabel,
        sort_checks,
    )
    from .diagnosis import DICOM_MESSAGE
    from .gunzip import (
        GZIP_BAD_CRC,
        GZIP_BAD_LENGTH,
        GZIP_MAGIC,
        GZIP_TRAILING,
        GZIP_TRUNCATED,
        inflate,
    )
    from .header import NiftiHeader
    from .header_block import HEADER_BLOCK_LIMIT, HeaderBlock, parse_header, read_header_block
    from .names import IMAGE_SUFFIXES, is_nifti_name, nifti_stem_and_ext

# Each name's module, imported on first use: a file name's test (``names``) needs neither the
# header checks nor the inflate (nibabel, isal), and ``export --subject`` only names files
_MODULE_OF = {
    "EMPTY_MESSAGE": "checks",
    "MAX_VALUE_BYTES": "checks",
    "NIFTI2_WARNING": "checks",
    "ImageCheck": "checks",
    "SortedChecks": "checks",
    "check_files": "checks",
    "check_image": "checks",
    "check_stored": "checks",
    "deep_check": "checks",
    "quiet_nibabel": "checks",
    "sort_checks": "checks",
    "DICOM_MESSAGE": "diagnosis",
    "GZIP_BAD_CRC": "gunzip",
    "GZIP_BAD_LENGTH": "gunzip",
    "GZIP_MAGIC": "gunzip",
    "GZIP_TRAILING": "gunzip",
    "GZIP_TRUNCATED": "gunzip",
    "inflate": "gunzip",
    "NiftiHeader": "header",
    "HEADER_BLOCK_LIMIT": "header_block",
    "HeaderBlock": "header_block",
    "parse_header": "header_block",
    "read_header_block": "header_block",
    "IMAGE_SUFFIXES": "names",
    "is_nifti_name": "names",
    "nifti_stem_and_ext": "names",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DICOM_MESSAGE",
    "EMPTY_MESSAGE",
    "GZIP_BAD_CRC",
    "GZIP_BAD_LENGTH",
    "GZIP_MAGIC",
    "GZIP_TRAILING",
    "GZIP_TRUNCATED",
    "HEADER_BLOCK_LIMIT",
    "IMAGE_SUFFIXES",
    "MAX_VALUE_BYTES",
    "NIFTI2_WARNING",
    "HeaderBlock",
    "ImageCheck",
    "NiftiHeader",
    "SortedChecks",
    "check_files",
    "check_image",
    "check_stored",
    "deep_check",
    "inflate",
    "is_nifti_name",
    "nifti_stem_and_ext",
    "parse_header",
    "quiet_nibabel",
    "read_header_block",
    "sort_checks",
]
