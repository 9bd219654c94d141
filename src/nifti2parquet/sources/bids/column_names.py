"""Column names for a BIDS dataset: deterministic, collision-free, lower-case snake_case.

Rules (documented in docs/reference/bids.md):

* Image kinds: the file's suffix; with a ``task`` entity, the task is appended (``bold_rest``);
  a derivative is prefixed with its pipeline folder and its ``desc`` label
  (``derivatives/lesion_masks/.../sub-1_desc-lesion_mask.nii.gz`` → ``lesion_masks_lesion_mask``);
  then each entity that tells images of the kind apart (:mod:`.kinds`), as ``key_value``, in
  file-name order (``mp2rage_inv_1_part_mag``; a file without it: no part).
  Each part goes through :func:`~.names.snake_name` and the parts are joined with ``_``.
* Each image column ``K`` has a metadata column ``K_info``.
* Names are handed out in a fixed order (fixed columns, then image kinds, then table columns), and
  a name already taken gets a prefix saying where the column comes from (``session_age`` for an
  ``age`` column of sessions.tsv when participants.tsv has one too); if that is taken as well, the
  first free ``_2``, ``_3``... suffix.
"""

from __future__ import annotations

from dataclasses import dataclass

from .filenames import snake_name

INFO_SUFFIX = "_info"


@dataclass(frozen=True, order=True)
class KindKey:
    """What decides an image's column: derivative pipeline, its desc, suffix and task, and the
    entities that tell images of that kind apart (see :mod:`.kinds`)."""

    pipeline: str  # "" for raw data
    desc: str  # derivatives only
    suffix: str
    task: str
    entities: tuple[tuple[str, str], ...] = ()  # (key, value or "" when the file has none)

    def parts(self) -> list[str]:
        entities = [f"{key}-{value}" for key, value in self.entities if value]
        return [p for p in (self.pipeline, self.desc, self.suffix, self.task) if p] + entities

    def base_name(self) -> str:
        return "_".join(snake_name(p, "x") for p in self.parts())


class NameRegistry:
    """Hands out unique column names in the order they are asked for."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._taken: set[str] = set(reserved)

    def taken(self, name: str) -> bool:
        return name in self._taken

    def claim(self, wanted: str, prefix: str = "") -> str:
        """``wanted`` if free, else ``{prefix}_{wanted}``, else the first free numbered variant."""
        candidates = [wanted] + ([f"{prefix}_{wanted}"] if prefix else [])
        name = next((c for c in candidates if c not in self._taken), None)
        if name is None:
            name = next(
                f"{wanted}_{n}" for n in range(2, 10**6) if f"{wanted}_{n}" not in self._taken
            )
        self._taken.add(name)
        return name

    def claim_pair(self, wanted: str) -> str:
        """A name ``K`` such that both ``K`` and ``K_info`` are free; claims both."""
        name = wanted
        n = 1
        while name in self._taken or name + INFO_SUFFIX in self._taken:
            n += 1
            name = f"{wanted}_{n}"
        self._taken.update((name, name + INFO_SUFFIX))
        return name


def kind_names(kinds: list[KindKey], registry: NameRegistry) -> dict[KindKey, str]:
    """Column names of the image kinds, given in sorted key order so the result is deterministic."""
    return {kind: registry.claim_pair(kind.base_name()) for kind in sorted(kinds)}
