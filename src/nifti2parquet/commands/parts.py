"""Array-job parts build shards of one plan only.

``--plan-only`` saves the plan with what made it (source, options, library versions); each
``--part`` run, and ``--finalize``, must be run with the same. A run whose options differ is
refused before it writes anything, naming each option that differs, so no part ever builds the
shards of another plan (which ``--finalize`` would then find missing). A part that finished
leaves ``.nifti2parquet/{split}/parts/part-{i}-of-{n}.json``: its shards and their keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..common.errors import OptionError
from ..common.selection import FLAGS
from ..common.units import format_size
from ..shards.manifest import split_dir
from ..shards.output import OutputFolder
from ..shards.plan import ShardPlan
from ..shards.runner import ShardJob
from ..shards.saved_plan import read_plan_options

_FLAGS = {"image_columns": "--image-column", **FLAGS}
_SIZES = ("max_shard_size", "row_group_size")


def check_part(part: tuple[int, int] | None, finalize: bool, plan_only: bool) -> None:
    if part:
        index, count = part
        if not 0 <= index < count:
            raise OptionError(f"--part: part {index} is not between 0 and {count - 1}")
        if finalize:
            raise OptionError("--part and --finalize are separate runs: finalize after all parts")
    if plan_only and (part or finalize):
        raise OptionError("--plan-only is its own step: run it before the --part runs")


def run_name(part: tuple[int, int] | None) -> str:
    """How a message names this run: ``part 2 of 4``, or ``--finalize``."""
    return f"part {part[0] + 1} of {part[1]}" if part else "--finalize"


def _parts_folder(split: str) -> str:
    return f"{split_dir(split)}/parts"


def record_part(
    output: OutputFolder,
    split: str,
    part: tuple[int, int],
    job: ShardJob,
    plan_record: dict[str, Any],
) -> None:
    """A part finished: its shards, their keys and the plan it built them for."""
    index, count = part
    names = [s.name for s in job.my_shards()]
    data = {
        "part": index,
        "of": count,
        "shards": names,
        "keys": [job.keys[n] for n in names],
        "plan": plan_record,
    }
    path = f"{_parts_folder(split)}/part-{index}-of-{count}.json"
    output.write_text_atomic(path, json.dumps(data) + "\n")


def missing_parts_hint(output: OutputFolder, split: str, missing: Sequence[ShardPlan]) -> str:
    """`` (parts not finished: 1/4, 3/4)``, when the finished parts say how many there are."""
    parts = output.listdir(_parts_folder(split))
    counts = {int(n.split("-of-")[1].removesuffix(".json")) for n in parts if "-of-" in n}
    if len(counts) != 1:
        return ""
    count = counts.pop()
    absent = sorted({s.index % count for s in missing})
    return f" (parts not finished: {', '.join(f'{i}/{count}' for i in absent)})"


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
    folder = _parts_folder(split)
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
