"""How a source is read: which files it yields, how rows are laid out, how files are reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..common.defaults import DEFAULT_SPLIT
from ..common.defaults import ROW_LAYOUTS as ROW_LAYOUTS  # ``--rows``, for the kinds of source
from ..common.path_patterns import ExcludePatterns
from ..common.selection import Selection
from ..common.storage import Storage


@dataclass(frozen=True)
class SourceOptions:
    """How to read a source. Options a kind of source has no use for are ignored by it (a
    table has no sessions to lay out; a BIDS tree names its images itself)."""

    image_columns: tuple[str, ...] = ()  # a table's columns of NIfTI paths (default: detected)
    rows: str = "auto"  # one of ROW_LAYOUTS
    derivatives: bool = True
    selection: Selection = field(default_factory=Selection)
    exclude_fields: tuple[str, ...] = ()  # sidecar JSON keys left out of the published metadata
    exclude_columns: tuple[str, ...] = ()  # table columns left out likewise
    exclude: tuple[str, ...] = ()  # --exclude: gitignore-style patterns of files left out
    storage: Storage = field(default_factory=Storage, compare=False)
    threads: int = 16
    # The split being built (``build --split``): a source whose folders are its splits (a
    # segmentation dataset's imagesTr/ and imagesTs/) yields that split's files; others ignore it.
    split: str = DEFAULT_SPLIT

    def to_record(self) -> dict[str, Any]:
        """What decides the files and rows a source yields, as the manifest records it (how the
        files are reached is left out: credentials are never written)."""
        return {
            "image_columns": list(self.image_columns),
            "rows": self.rows,
            "derivatives": self.derivatives,
            **self.selection.to_record(),
            "exclude_fields": list(self.exclude_fields),
            "exclude_columns": list(self.exclude_columns),
            "exclude": list(self.exclude),
            "split": self.split,
        }

    @property
    def exclude_patterns(self) -> ExcludePatterns:
        return ExcludePatterns(self.exclude)

    @classmethod
    def from_record(cls, data: dict[str, Any], storage: Storage) -> SourceOptions:
        """The options a build recorded, with today's ``storage`` (credentials, endpoint)."""
        return cls(
            image_columns=tuple(data.get("image_columns") or ()),
            rows=data.get("rows", "auto"),
            derivatives=data.get("derivatives", True),
            selection=Selection.from_record(data),
            exclude_fields=tuple(data.get("exclude_fields") or ()),
            exclude_columns=tuple(data.get("exclude_columns") or ()),
            exclude=tuple(data.get("exclude") or ()),
            storage=storage,
            split=data.get("split", DEFAULT_SPLIT),
        )
