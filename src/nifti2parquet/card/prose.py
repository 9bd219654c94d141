"""The user's own words on the dataset page, and the README that nifti2parquet wrote.

The card (``README.md``) is rendered from the build's records on every build and push, so an
edit made in it would be lost on the next one. Your own prose goes in ``OUTPUT_DIR/CARD.md``
instead: every card includes it, under the title and description, as you wrote it. It is not
uploaded as a file of its own (the card carries it).

Every README this tool writes is recorded in ``.nifti2parquet/card.json`` (:class:`CardRecord`):
its sha256, so that a hand edit is never discarded silently (a README that no longer has it was
edited: ``build`` refuses to replace it and says how to keep the words, ``push`` uploads it as it
is, with a warning), and the repo id and license it was rendered for, so that nothing is parsed
back out of the card's text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from ..common.errors import OutputError
from ..shards.output import STATE, OutputFolder
from .readme import README

PROSE = "CARD.md"
CARD_RECORD = f"{STATE}/card.json"


def read_prose(output: OutputFolder) -> str:
    """The text of ``OUTPUT_DIR/CARD.md`` (empty when there is none)."""
    if not output.exists(PROSE):
        return ""
    return output.read_text(PROSE).strip()


@dataclass(frozen=True)
class CardRecord:
    """What nifti2parquet recorded of the README it last wrote, in ``.nifti2parquet/card.json``:
    its sha256, and the repo id and license it was rendered for (None: the placeholder repo id;
    "": the build's own license)."""

    sha256: str
    repo_id: str | None = None
    license: str = ""

    def written(self, card: bytes) -> bool:
        """``card`` is the README this record was written with (not edited since)."""
        return _sha256(card) == self.sha256


def write_card(
    output: OutputFolder, card: bytes, repo_id: str | None = None, license: str = ""
) -> CardRecord:
    """Write README.md, rendered for ``repo_id`` with ``license``, and record it (the README is
    always written last)."""
    record = CardRecord(_sha256(card), repo_id, license)
    output.write_text_atomic(CARD_RECORD, json.dumps(asdict(record)) + "\n")
    output.write_bytes_atomic(README, card)
    return record


def read_card_record(output: OutputFolder) -> CardRecord | None:
    """The record of the README last written here; None when there is none (a folder built by an
    older version) or it cannot be read."""
    if not output.exists(CARD_RECORD):
        return None
    try:
        data = json.loads(output.read_text(CARD_RECORD))
        return CardRecord(str(data["sha256"]), data.get("repo_id"), data.get("license") or "")
    except (ValueError, KeyError, TypeError):
        return None


def card_edited(output: OutputFolder) -> bool:
    """True when README.md is not the one this tool last wrote (edited by hand, or replaced).
    A folder with no record (built by an older version) is taken as unedited."""
    record = read_card_record(output)
    if record is None or not output.exists(README):
        return False
    with output.open_read(README) as f:
        return not record.written(f.read())


def refuse_edited_card(output: OutputFolder) -> None:
    """A build would replace README.md: refuse when it holds someone's edits."""
    if card_edited(output):
        raise OutputError(
            f"{output.display(README)}: edited since nifti2parquet wrote it, and a build would "
            f"replace it; move your words into {output.display(PROSE)} (every card includes "
            f"that file), then delete README.md and run the build again"
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
