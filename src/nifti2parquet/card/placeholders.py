"""The repo id a card names, put right in a README someone edited.

A build renders the card for ``--repo-id`` or, without one, for the placeholder ``USER/DATASET``
(``load_dataset("USER/DATASET")``...); ``push`` renders it again for the real repo. A README edited
by hand is pushed as it is (push never discards someone's words), but the lines nifti2parquet
wrote in it still name the placeholder: each line of the edited README that is, unchanged, a line
of the card as it was rendered is replaced by the same line rendered for the real repo; a line
that was edited and still names the placeholder is left alone and reported by its number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Retargeted:
    """An edited README with the lines nifti2parquet wrote rendered for the real repo."""

    text: str
    replaced: int  # lines replaced
    remaining: tuple[int, ...]  # numbers (from 1) of the lines that still name the placeholder


def retarget(edited: str, rendered_for: str, rendered: str, placeholder: str) -> Retargeted:
    """``edited`` with every line that ``rendered_for`` (the card as it was written, naming
    ``placeholder``) holds unchanged replaced by its counterpart in ``rendered`` (the same card for
    the real repo). The two renderings differ only inside lines, so they align line by line."""
    old_lines, new_lines = rendered_for.splitlines(), rendered.splitlines()
    mapping = (
        {o: n for o, n in zip(old_lines, new_lines) if o != n and placeholder in o}
        if len(old_lines) == len(new_lines)
        else {}
    )
    out, remaining, replaced = [], [], 0
    for number, line in enumerate(edited.splitlines(keepends=True), start=1):
        body = line.rstrip("\r\n")
        if body in mapping:
            line = mapping[body] + line[len(body) :]
            replaced += 1
        elif placeholder in body:
            remaining.append(number)
        out.append(line)
    return Retargeted("".join(out), replaced, tuple(remaining))


def line_numbers(numbers: tuple[int, ...], shown: int = 10) -> str:
    """``12, 40 and 41``, at most ``shown`` of them (``and 3 more``)."""
    listed = [str(n) for n in numbers[:shown]]
    if len(numbers) > shown:
        return ", ".join(listed) + f" and {len(numbers) - shown:,} more"
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
