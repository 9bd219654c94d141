"""Sorting a source's checks (BIDS and segmentation alike): headers of the files that passed,
one error per failed file in the source's words, and every warning, in the files' order."""

from __future__ import annotations

from typing import Any

from nifti2parquet.common.errors import Problem
from nifti2parquet.common.nifti import ImageCheck, sort_checks

HEADER: Any = object()  # sorting only passes headers on


def test_headers_errors_and_warnings_are_sorted_in_the_files_order() -> None:
    warned = Problem("b.nii", "named .nii but gzip-compressed", "warning")
    checks = [
        ImageCheck(HEADER, ()),
        ImageCheck(HEADER, (warned,)),
        ImageCheck(None, (Problem("c.nii", "empty"), Problem("c.nii", "too large"))),
        ImageCheck(None, ()),  # no error, yet no header: the source's words
    ]
    done = sort_checks(["a.nii", "b.nii", "c.nii", "d.nii"], checks, "no readable header")
    assert done.headers == {"a.nii": HEADER, "b.nii": HEADER}
    assert done.errors == [
        Problem("c.nii", "empty; too large"),
        Problem("d.nii", "no readable header"),
    ]
    assert done.warnings == [warned]


def test_a_failed_files_warnings_are_kept() -> None:
    warned = Problem("a.nii", "NIfTI-2 file", "warning")
    check = ImageCheck(HEADER, (Problem("a.nii", "truncated"), warned))
    done = sort_checks(["a.nii"], [check], "no readable NIfTI header")
    assert done == ({}, [Problem("a.nii", "truncated")], [warned])
