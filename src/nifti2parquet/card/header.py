"""A dataset card's YAML header: what ``datasets`` and the Hub read from ``README.md``
(``dataset_info``, ``configs``, ``license``...), between the ``---`` lines that open the card."""

from __future__ import annotations

from typing import Any

import yaml


class CardHeaderError(ValueError):
    """The card has a YAML header that does not parse; the message says where and why."""


def read_card_header(text: str) -> dict[str, Any]:
    """The card's YAML header as a mapping: empty when the card has none (or it is not a
    mapping); :class:`CardHeaderError` when it does not parse."""
    if not text.startswith("---\n"):
        return {}
    try:
        header = yaml.safe_load(text.split("---\n", 2)[1])
    except yaml.YAMLError as exc:
        raise CardHeaderError(" ".join(str(exc).split())) from None
    return header if isinstance(header, dict) else {}
