"""Array-job parts build shards of one plan only.

``--plan-only`` saves the plan with what made it (source, options, library versions); each
``--part`` run, and ``--finalize``, must be run with the same. A run whose options differ is
refused before it writes anything, naming each option that differs, so no part ever builds the
shards of another plan (which ``--finalize`` would then find missing).
"""

from __future__ import annotations

import json
from typing import Any

from ..common.errors import OptionError
from ..shards.manifest import read_plan_options, split_dir
from ..shards.output import OutputFolder
from ..common.units import format_size

_FLAGS = {
    "image_columns": "--image-column",
    "subjects": "--subject",
    "sessions": "--session",
    "datatypes": "--datatype",
    "suffixes": "--suffix",
    "tasks": "--task",
}
_SIZES = ("max_shard_size", "row_group_size")


def refuse_other_plan(output: OutputFolder, split: str, record: dict[str, Any], run: str) -> None:
    """Refuse this run (``run`` names it, e.g. "--part 2/4") if the saved plan or a finished
    part was made with other options than ``record`` (see :func:`plan_record_of`)."""
    saved = read_plan_options(output, split)
    if saved is not None and saved != record:
        raise OptionError(_message(run, "the plan saved by --plan-only", saved, record))
    for other in _part_records(output, split):
        if other.get("plan") not in (None, record):
            made = f"part {other['part'] + 1} of {other['of']} (already built)"
            raise OptionError(_message(run, made, other["plan"], record))


def _part_records(output: OutputFolder, split: str) -> list[dict[str, Any]]:
    folder = f"{split_dir(split)}/parts"
    records = []
    for name in output.listdir(folder):
        try:
            records.append(json.loads(output.read_text(f"{folder}/{name}")))
        except ValueError:
            continue
    return records


def _message(run: str, made: str, saved: dict[str, Any], here: dict[str, Any]) -> str:
    differences = differing_options(saved, here)
    return (
        f"{run}: options differ from {made}: {'; '.join(differences)}; run every part and "
        f"--finalize with the options of --plan-only (or run --plan-only again with the new ones)"
    )


def differing_options(saved: dict[str, Any], here: dict[str, Any]) -> list[str]:
    """``--max-shard-size 200.0 MB there, 500.0 MB here`` for each option that differs."""
    found = []
    if saved.get("source") != here.get("source"):
        found.append(f"SOURCE {saved.get('source')} there, {here.get('source')} here")
    old, new = _flat(saved.get("options", {})), _flat(here.get("options", {}))
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            flag = _FLAGS.get(key, "--" + key.replace("_", "-"))
            found.append(
                f"{flag} {_shown(key, old.get(key))} there, {_shown(key, new.get(key))} here"
            )
    if saved.get("tools") != here.get("tools") or saved.get("format") != here.get("format"):
        found.append(f"made with {_tools(saved)} there, {_tools(here)} here")
    return found or ["the saved plan cannot be read"]


def _flat(options: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in options.items() if k != "source"}
    return {**flat, **(options.get("source") or {})}


def _shown(key: str, value: Any) -> str:
    if value is None or value == []:
        return "(none)"
    if key in _SIZES and isinstance(value, int):
        return format_size(value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _tools(record: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((record.get("tools") or {}).items()))
