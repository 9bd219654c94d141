"""The user's own words on the dataset page, and the README that nifti2parquet wrote.

The card (``README.md``) is rendered from the build's records on every build and push, so an
edit made in it would be lost on the next one. Your own prose goes in ``OUTPUT_DIR/CARD.md``
instead: every card includes it, under the title and description, as you wrote it. It is not
uploaded as a file of its own (the card carries it).

To never discard a hand edit of ``README.md`` silently, the sha256 of every README this tool
writes is recorded in ``.nifti2parquet/card.json``. A README that no longer has it was edited:
``build`` refuses to replace it (and says how to keep the words), ``push`` uploads it as it is,
with a warning.
"""

from __future__ import annotations

import hashlib
import json

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


def write_card(output: OutputFolder, card: bytes) -> None:
    """Write README.md and record its sha256 (the README is always written last)."""
    output.write_text_atomic(CARD_RECORD, json.dumps({"sha256": _sha256(card)}) + "\n")
    output.write_bytes_atomic(README, card)


def card_edited(output: OutputFolder) -> bool:
    """True when README.md is not the one this tool last wrote (edited by hand, or replaced).
    A folder with no record (built by an older version) is taken as unedited."""
    if not output.exists(README) or not output.exists(CARD_RECORD):
        return False
    try:
        recorded = json.loads(output.read_text(CARD_RECORD)).get("sha256")
    except ValueError:
        return False
    with output.open_read(README) as f:
        return _sha256(f.read()) != recorded


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
